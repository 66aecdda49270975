import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { privateKeyToAccount } from 'viem/accounts'
import { RENTER_CHANNELS_FILE } from '../../src/client/channel-book.js'
import { createClient } from '../../src/client/index.js'
import { resolveConfig } from '../../src/daemon/config.js'
import { createDaemon, type Daemon } from '../../src/daemon/daemon.js'
import { listChannels } from '../../src/pay/actions/list-channels.js'
import { createPayPublicClient } from '../../src/pay/clients.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { addModel } from '../compute/onnx-builder.js'
import { REPO_ROOT } from '../helpers/cli.js'

const RENTER = join(REPO_ROOT, 'dist', 'test', 'helpers', 'renter-process.js')

async function rpc(url: string, method: string, params: unknown[] = []): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  })
  return ((await res.json()) as { result: unknown }).result
}

describe('a channel open survives the renter being killed -9 mid-open', () => {
  let chain: DevChain
  let provider: Daemon
  let dir: string

  before(async () => {
    chain = await startDevChain()
    dir = await mkdtemp(join(tmpdir(), 'pb-pending-open-'))
    provider = createDaemon({
      config: resolveConfig(join(dir, 'provider'), {
        listen: ['/ip4/127.0.0.1/tcp/0'],
        offer: { pricePerSecond: '1000', threads: 2, maxLeaseSeconds: 60 },
      }),
      chain,
      account: privateKeyToAccount(chain.accounts[2]!.privateKey),
      control: false,
    })
    await provider.start()
    await provider.compute.store.add(addModel(), { name: 'add.onnx' })
    await provider.syncModels()
  })

  after(async () => {
    await rpc(chain.rpcUrl, 'evm_setAutomine', [true]).catch(() => {})
    await provider?.stop()
    await chain?.stop()
  })

  it('the open is recorded before it is sent and resumed at the next start: the deposit is reused, not lost', async () => {
    const renterDir = join(dir, 'renter')
    const modelFile = join(dir, 'add.onnx')
    await writeFile(modelFile, addModel())
    const providerAddr = provider.node.getMultiaddrs()[0]!.toString()
    // The chain stops mining: the open transaction waits in the mempool while the renter waits for its receipt.
    await rpc(chain.rpcUrl, 'evm_setAutomine', [false])
    const renter = spawn(
      process.execPath,
      [
        RENTER,
        JSON.stringify({
          dataDir: renterDir,
          chain: { rpcUrl: chain.rpcUrl, chainId: chain.chainId, contract: chain.contract },
          privateKey: chain.accounts[1]!.privateKey,
          provider: providerAddr,
          maxPricePerSecond: '1000',
          model: modelFile,
        }),
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    )
    const exited = new Promise((resolve) => renter.once('exit', resolve))
    try {
      // Wait until the renter has sent the open (its hash is recorded), then kill it before the receipt.
      const deadline = Date.now() + 20_000
      let pending: Array<{ transactionHash?: string }> = []
      while (Date.now() < deadline) {
        try {
          pending = JSON.parse(await readFile(join(renterDir, RENTER_CHANNELS_FILE), 'utf8')).pending ?? []
        } catch {}
        if (pending[0]?.transactionHash != null) break
        await new Promise((r) => setTimeout(r, 20))
      }
      assert.ok(pending[0]?.transactionHash != null, 'the renter recorded its pending open with the transaction')
    } finally {
      renter.kill('SIGKILL')
      await exited
    }
    await rpc(chain.rpcUrl, 'evm_setAutomine', [true])
    await rpc(chain.rpcUrl, 'evm_mine')

    const account = privateKeyToAccount(chain.accounts[1]!.privateKey)
    const publicClient = createPayPublicClient(chain)
    const opened = async () =>
      (await listChannels(publicClient, { contract: chain.contract, account: account.address })).filter(
        (c) => c.role === 'renter',
      )
    const [funded] = await opened()
    assert.ok(funded != null, 'the killed renter funded a channel')

    // The next start resumes the pending open: the lease runs on that channel, and no second one is opened.
    const client = await createClient({ dataDir: renterDir, chain, account })
    try {
      const lease = await client.lease({ provider: multiaddr(providerAddr), maxPricePerSecond: 1000n })
      assert.equal(lease.summary().channelId, funded.channelId)
      await lease.end()
    } finally {
      await client.close()
    }
    assert.equal((await opened()).length, 1)
    const file = JSON.parse(await readFile(join(renterDir, RENTER_CHANNELS_FILE), 'utf8'))
    assert.deepEqual(file.pending, [])
  })
})
