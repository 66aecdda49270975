import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { getContractEvents } from 'viem/actions'
import { createPayPublicClient, type PayPublicClient } from '../../src/pay/clients.js'
import { PAYMENT_CHANNEL_ABI } from '../../src/pay/contract/artifact.js'
import { CloseRequestScanner, isLogRangeError } from '../../src/pay/log-scan.js'
import { createPaymentStore, type PaymentStore } from '../../src/pay/payment-store.js'
import { type PayFixture, setupPayFixture } from './helpers.js'
import { type GetLogsMode, type RpcProxy, startRpcProxy } from './rpc-proxy.js'

describe('eth_getLogs limits as viem throws them (anvil behind a proxy)', () => {
  let f: PayFixture
  let proxy: RpcProxy
  let client: PayPublicClient
  let dir: string
  let store: PaymentStore

  before(async () => {
    f = await setupPayFixture()
    proxy = await startRpcProxy(f.chain.rpcUrl)
    client = createPayPublicClient({ rpcUrl: proxy.url, chainId: f.chain.chainId })
    dir = await mkdtemp(join(tmpdir(), 'parkbench-log-scan-'))
    store = await createPaymentStore({ path: join(dir, 'store') })
  })
  after(async () => {
    await store?.stop()
    await proxy?.close()
    await f?.chain.stop()
    await rm(dir, { recursive: true, force: true })
  })

  async function errorFor(mode: GetLogsMode): Promise<unknown> {
    proxy.getLogs = mode
    try {
      await getContractEvents(client, {
        address: f.chain.contract,
        abi: PAYMENT_CHANNEL_ABI,
        eventName: 'CloseRequested',
        fromBlock: 0n,
        toBlock: 10n,
      })
    } catch (err) {
      return err
    }
    throw new Error('eth_getLogs did not fail')
  }

  // What hosted RPCs answer an oversized eth_getLogs with.
  const tooLarge: Array<[number, string]> = [
    [-32005, 'query exceeds max block range 100'],
    [-32005, 'query returned more than 10000 results'],
    [-32602, 'Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range.'],
    [-32000, 'exceed maximum block range: 5000'],
    [-32600, 'block range is too wide'],
    [-32062, 'Block range is too large'],
  ]
  for (const [code, message] of tooLarge) {
    it(`"${message}" (${code}) is a range error`, async () => {
      assert.equal(isLogRangeError(await errorFor({ error: { code, message } })), true)
    })
  }

  it('an HTTP 413 is a range error; rate limits and other failures are not', async () => {
    assert.equal(isLogRangeError(await errorFor({ httpStatus: 413, body: 'Request Entity Too Large' })), true)
    assert.equal(isLogRangeError(await errorFor({ httpStatus: 429, body: 'Too Many Requests' })), false)
    const rateLimited = { code: -32005, message: 'daily request count exceeded, request rate limited' }
    assert.equal(isLogRangeError(await errorFor({ error: rateLimited })), false)
    assert.equal(isLogRangeError(await errorFor('fail')), false)
    assert.equal(isLogRangeError(await errorFor({ error: { code: -32000, message: 'header not found' } })), false)
  })

  it('the scanner does not shrink its range for a rate limit, and keeps its cursor', async () => {
    const scanner = new CloseRequestScanner({ client, store }, { contract: f.chain.contract, fromBlock: 0n })
    proxy.getLogs = { error: { code: -32005, message: 'daily request count exceeded, request rate limited' } }
    await assert.rejects(scanner.scan(), { code: 'CHAIN_ERROR' })
    assert.equal(scanner.chunkBlocks, 1_000n)
    assert.equal(await scanner.nextBlock(), 0n)
    proxy.getLogs = 'forward'
    const scan = await scanner.scan()
    assert.equal(scan.fromBlock, 0n)
    assert.equal(scan.behind, 0n)
    assert.equal(await scanner.nextBlock(), scan.toBlock + 1n)
  })
})
