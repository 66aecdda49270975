import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import type { Hex } from 'viem'
import { requestClose } from '../../src/pay/actions/close-channel.js'
import { getChannel } from '../../src/pay/actions/get-channel.js'
import { openChannel } from '../../src/pay/actions/open-channel.js'
import { ChannelStateCache } from '../../src/pay/channel-state-cache.js'
import { createPayPublicClient, createPayWalletClient } from '../../src/pay/clients.js'
import { createPaymentReceiver, type PaymentReceiver } from '../../src/pay/payment-receiver.js'
import { createPaymentSender, type PaymentSender } from '../../src/pay/payment-sender.js'
import { createPaymentStore, type PaymentStore } from '../../src/pay/payment-store.js'
import { createSettler, type SettlementResult, type SettlerInit } from '../../src/pay/settler.js'
import { mineBlocks, type PayFixture, setupPayFixture } from './helpers.js'
import { type GetLogsMode, type RpcProxy, startRpcProxy } from './rpc-proxy.js'

// Worth far more than a settlement's gas (~60,000 gas at ~1 gwei = ~6e13 wei): these tests are about finding close
// requests, not about economics.
const PRICE = 10n ** 14n
const DEPOSIT = 10n ** 16n

/** Poll until `read` returns something, or fail after `ms`. */
async function until<T>(read: () => T | undefined | Promise<T | undefined>, what: string, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await read()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await delay(20)
  }
}

describe('settler behind an RPC that caps or fails eth_getLogs (anvil)', () => {
  let f: PayFixture
  let dir: string
  let renter: PaymentSender
  const stores: PaymentStore[] = []
  const proxies: RpcProxy[] = []

  before(async () => {
    f = await setupPayFixture()
    dir = await mkdtemp(join(tmpdir(), 'parkbench-settler-scan-'))
    const store = await createPaymentStore({ path: join(dir, 'renter') })
    stores.push(store)
    renter = createPaymentSender(
      { store, account: f.renter.account },
      { chainId: f.chain.chainId, contract: f.chain.contract },
    )
    await renter.start()
  })
  afterEach(async () => {
    for (const p of proxies.splice(0)) await p.close()
  })
  after(async () => {
    for (const s of stores) await s.stop().catch(() => {})
    await f?.chain.stop()
    await rm(dir, { recursive: true, force: true })
  })

  /** The one place channels are opened in this file. */
  async function openTestChannel(amount = DEPOSIT): Promise<Hex> {
    const { channelId } = await openChannel(f.renter.wallet, {
      contract: f.chain.contract,
      provider: f.provider.account.address,
      providerNode: f.providerNode,
      amount,
    })
    return channelId
  }

  /** A provider whose every chain call (wallet, state reads) goes through a proxy in front of anvil. */
  async function provider(name: string, mode: GetLogsMode, cacheTtlMs: number) {
    const proxy = await startRpcProxy(f.chain.rpcUrl, mode)
    proxies.push(proxy)
    const store = await createPaymentStore({ path: join(dir, name) })
    stores.push(store)
    const config = { rpcUrl: proxy.url, chainId: f.chain.chainId }
    const channels = new ChannelStateCache(
      { client: createPayPublicClient(config) },
      { contract: f.chain.contract, ttlMs: cacheTtlMs },
    )
    const receiver = createPaymentReceiver(
      { store, channels },
      {
        chainId: f.chain.chainId,
        contract: f.chain.contract,
        provider: f.provider.account.address,
        providerNode: f.providerNode,
      },
    )
    await receiver.start()
    const wallet = createPayWalletClient(config, f.provider.account)
    const settled: SettlementResult[] = []
    const settler = (init: Partial<SettlerInit> = {}) =>
      createSettler(
        { receiver, store, channels, wallet },
        {
          contract: f.chain.contract,
          intervalMs: 20,
          fromBlock: BigInt(f.chain.deployBlock),
          onEvent: (e) => {
            if (e.type === 'settle:settled') settled.push(e.result)
          },
          ...init,
        },
      )
    return { proxy, store, receiver, settler, settled }
  }

  async function lease(receiver: PaymentReceiver, channelId: Hex, ticks: number): Promise<bigint> {
    const commitment = await renter.startLease({ channelId, amountPerTick: PRICE, maxTicks: 1000 })
    await receiver.acceptCommitment(commitment, { channelId })
    let total = 0n
    for (let i = 0; i < ticks; i++) {
      const { tick } = await renter.nextTick(commitment.commitment.leaseId)
      total = (await receiver.acceptTick(tick.leaseId, tick.preimage)).total
    }
    return total
  }

  it('halves its eth_getLogs range under a 100-block cap and answers a close request found in the logs', async () => {
    // A state read stays fresh for a minute: within this test only the log scan can reveal the close request.
    const p = await provider('capped', { maxBlocks: 100 }, 60_000)
    const channelId = await openTestChannel()
    const total = await lease(p.receiver, channelId, 10)
    // anvil mines more slowly the longer its chain (3,000 more blocks take ~10 s after the first 1,000): 2,000 here.
    await mineBlocks(f, 2_000)
    const settler = p.settler()
    await settler.start()
    try {
      await requestClose(f.renter.wallet, { contract: f.chain.contract, channelId })
      const result = await until(() => p.settled[0], 'the closing settlement')
      assert.equal(result.reason, 'closing')
      assert.equal(result.paid, total)
      assert.equal((await getChannel(f.publicClient, { contract: f.chain.contract, channelId })).settled, total)
    } finally {
      await settler.stop()
    }
    const refused = p.proxy.calls.filter((c) => c.refused)
    const served = p.proxy.calls.filter((c) => !c.refused)
    assert.ok(refused.length >= 1, 'the proxy refused the first, too wide, ranges')
    assert.ok(served.length > 30, `scanned in many chunks (${served.length})`)
    assert.ok(served.every((c) => c.toBlock - c.fromBlock + 1n <= 100n))
    // No gaps or overlaps: the chunks tile the range from the deploy block.
    assert.equal(served[0]!.fromBlock, BigInt(f.chain.deployBlock))
    for (let i = 1; i < served.length; i++) assert.equal(served[i]!.fromBlock, served[i - 1]!.toBlock + 1n)
  })

  it('when every eth_getLogs fails, a known channel is still settled inside its close window', async () => {
    const p = await provider('no-logs', 'fail', 100)
    const channelId = await openTestChannel()
    const total = await lease(p.receiver, channelId, 7)
    const settler = p.settler()
    await settler.start()
    try {
      await requestClose(f.renter.wallet, { contract: f.chain.contract, channelId })
      const result = await until(() => p.settled[0], 'the closing settlement')
      assert.equal(result.reason, 'closing')
      assert.equal(result.paid, total)
    } finally {
      await settler.stop()
    }
    assert.ok(p.proxy.calls.length >= 1)
    assert.ok(p.proxy.calls.every((c) => c.refused))
  })

  it('a node far behind scans a bounded range per pass and still settles a closing channel by its state', async () => {
    // State reads are never cached here: the close request must be seen by the state, the logs being far behind.
    const p = await provider('behind', 'forward', 0)
    const channelId = await openTestChannel()
    const total = await lease(p.receiver, channelId, 3)
    await requestClose(f.renter.wallet, { contract: f.chain.contract, channelId })
    await mineBlocks(f, 150)
    const from = await f.publicClient.getBlockNumber()
    await mineBlocks(f, 150)
    const settler = p.settler({ fromBlock: from, logRangeBlocks: 20, maxLogBlocksPerPass: 100 })
    const results = await settler.check()
    assert.deepEqual(
      results.map((r) => [r.channelId, r.reason, r.paid]),
      [[channelId.toLowerCase(), 'closing', total]],
    )
    assert.equal(p.proxy.calls.length, 5)
    assert.equal(p.proxy.calls[0]!.fromBlock, from)
    assert.equal(p.proxy.calls.at(-1)!.toBlock, from + 99n)
    // The next pass goes on from there.
    await settler.check()
    assert.equal(p.proxy.calls[5]!.fromBlock, from + 100n)
  })

  it('keeps its scan cursor across a restart: no rescan from the deploy block', async () => {
    const name = 'restart'
    const p = await provider(name, 'forward', 100)
    const channelId = await openTestChannel()
    await lease(p.receiver, channelId, 2)
    await mineBlocks(f, 250)
    const first = p.settler({ logRangeBlocks: 100 })
    await first.check()
    const head = p.proxy.calls.at(-1)!.toBlock
    assert.equal(p.proxy.calls[0]!.fromBlock, BigInt(f.chain.deployBlock))
    assert.equal(head, await f.publicClient.getBlockNumber())

    // A new process: the store is closed and opened again, the settler configured from the deploy block as before.
    await p.store.stop()
    const again = await createPaymentStore({ path: join(dir, name) })
    stores.push(again)
    const channels = new ChannelStateCache({ client: f.publicClient }, { contract: f.chain.contract })
    const receiver = createPaymentReceiver(
      { store: again, channels },
      {
        chainId: f.chain.chainId,
        contract: f.chain.contract,
        provider: f.provider.account.address,
        providerNode: f.providerNode,
      },
    )
    await receiver.start()
    const restarted = createSettler(
      {
        receiver,
        store: again,
        channels,
        wallet: createPayWalletClient({ rpcUrl: p.proxy.url, chainId: f.chain.chainId }, f.provider.account),
      },
      { contract: f.chain.contract, fromBlock: BigInt(f.chain.deployBlock) },
    )
    p.proxy.calls.length = 0
    await mineBlocks(f, 10)
    await restarted.start()
    await restarted.check()
    await restarted.stop()
    assert.deepEqual(
      p.proxy.calls.map((c) => [c.fromBlock, c.toBlock]),
      [[head + 1n, head + 10n]],
    )
  })
})
