import assert from 'node:assert/strict'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Tensor } from 'onnxruntime-node'
import { privateKeyToAccount } from 'viem/accounts'
import { createClient, type RenterClient } from '../../src/client/index.js'
import { resolveConfig } from '../../src/daemon/config.js'
import { createDaemon, type Daemon } from '../../src/daemon/daemon.js'
import { ParkbenchError } from '../../src/errors.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { matmulModel } from '../compute/onnx-builder.js'

const N = 256

/** A caller that aborts its `infer()` (a timeout, a closed HTTP request) must not leave the lease paying forever. */
describe('an aborted infer() leaves its lease to end when idle', () => {
  let chain: DevChain
  let provider: Daemon
  let client: RenterClient

  before(async () => {
    chain = await startDevChain()
    const dir = await mkdtemp(join(tmpdir(), 'pb-abort-idle-'))
    provider = createDaemon({
      config: resolveConfig(join(dir, 'provider'), {
        listen: ['/ip4/127.0.0.1/tcp/0'],
        offer: { pricePerSecond: '1000', threads: 1, maxLeaseSeconds: 60 },
      }),
      chain,
      account: privateKeyToAccount(chain.accounts[2]!.privateKey),
      control: false,
    })
    await provider.start()
    client = await createClient({
      dataDir: join(dir, 'renter'),
      chain,
      account: privateKeyToAccount(chain.accounts[1]!.privateKey),
      bootstrap: provider.node.getMultiaddrs().map((a) => a.toString()),
      idleMs: 300,
    })
  })

  after(async () => {
    await client?.close()
    await provider?.stop()
    await chain?.stop()
  })

  it('ends after the idle time', async () => {
    const m = new Tensor('float32', new Float32Array(N * N).fill(0.01), [N, N])
    const controller = new AbortController()
    const running = client.infer(
      { model: matmulModel(40), inputs: { a: m, b: m }, maxPricePerSecond: 5_000n },
      {
        signal: controller.signal,
        // Abort as the job starts (the lease is held and fine). Synchronously: a timer here raced the job itself on
        // a loaded machine, and a job that finished first made the infer() resolve.
        onProgress: (e) => {
          if (e.type === 'job:started') controller.abort()
        },
      },
    )
    await assert.rejects(running)
    assert.equal(client.activeLeases().length, 1)
    const deadline = Date.now() + 10_000
    while (client.activeLeases().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25))
    assert.equal(client.activeLeases().length, 0, 'the lease ended')
  })

  it('a caller deadline at any step is a typed error (a code, never a bare DOMException), and leases still end', async () => {
    const m = new Tensor('float32', new Float32Array(N * N).fill(0.01), [N, N])
    for (const step of ['discovery:found', 'lease:started', 'job:started'] as const) {
      const controller = new AbortController()
      const running = client.infer(
        { model: matmulModel(40), inputs: { a: m, b: m }, maxPricePerSecond: 5_000n },
        {
          signal: controller.signal,
          onProgress: (e) => {
            // What AbortSignal.timeout() aborts with.
            if (e.type === step) controller.abort(new DOMException('The operation timed out.', 'TimeoutError'))
          },
        },
      )
      await assert.rejects(running, (err: Error) => {
        assert.ok(err instanceof ParkbenchError, `${step}: ${err.name}: ${err.message}`)
        assert.match(err.code, /^[A-Z_]+$/)
        return true
      })
    }
    const deadline = Date.now() + 10_000
    while (client.activeLeases().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25))
    assert.equal(client.activeLeases().length, 0, 'the leases ended')
  })
})
