import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { Tensor } from 'onnxruntime-node'
import { type Hex, parseEther } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createClient } from '../../src/client/index.js'
import { controlRequest } from '../../src/daemon/control.js'
import type { DaemonStatus } from '../../src/daemon/daemon.js'
import { openLease, type RenterLease } from '../../src/lease/renter-lease.js'
import { createNode, type ParkbenchNode } from '../../src/net/create-node.js'
import { openChannel } from '../../src/pay/actions/open-channel.js'
import { createPayWalletClient } from '../../src/pay/clients.js'
import { startDevChain } from '../../src/pay/dev-chain.js'
import { createPaymentSender } from '../../src/pay/payment-sender.js'
import { createPaymentStore } from '../../src/pay/payment-store.js'
import { providerNodeId } from '../../src/pay/provider-node.js'
import { addModel } from '../compute/onnx-builder.js'
import { startProviderCli, writeChainFile } from '../helpers/cli.js'
import { percentile, printTable, round } from './stats.js'

/**
 * The lease benchmark, against a real `parkbench start` provider process on loopback and a real anvil chain:
 *
 * 1. time from `client.infer()` with no lease held (channel already open) to the first result: discovery (from
 *    the client's offer cache, and with the cache off: a DHT lookup), quote, commitment, first tick and its ack,
 *    the job;
 * 2. the provider's CPU per lease-second and its event-loop delay, as concurrent paid leases ramp up (read from
 *    the daemon's control socket, so the renters' own CPU is not counted). Leases only pay here, they run no
 *    jobs: this isolates the cost of metering. The provider sells `MAX_LEASES` threads so that capacity is not
 *    the limit; a real provider sells its cores.
 */
/** A list of numbers from the environment (a shorter ramp while iterating), else `fallback`. */
function envNumbers(name: string, fallback: number[]): number[] {
  const text = process.env[name]
  if (text === undefined || text === '') return fallback
  const values = text.split(',').map(Number)
  if (values.some((v) => !Number.isInteger(v) || v < 0)) throw new RangeError(`${name} must be whole numbers`)
  return values
}

// LEASE_BENCH_RUNS, LEASE_BENCH_LEVELS (e.g. "1,50,200"), LEASE_BENCH_WINDOW_MS and LEASE_BENCH_PROVIDER_NODE_ARGS
// (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof": node flags for the provider process) shorten or profile a run.
const FIRST_RESULT_RUNS = envNumbers('LEASE_BENCH_RUNS', [30])[0]!
const LEVELS = envNumbers('LEASE_BENCH_LEVELS', [1, 10, 50, 100, 200, 400, 600, 800, 1000, 1500, 2000])
const MAX_LEASES = LEVELS[LEVELS.length - 1]!
const WINDOW_MS = envNumbers('LEASE_BENCH_WINDOW_MS', [5_000])[0]!
const IDLE_WINDOWS = 3
const PROVIDER_NODE_ARGS = (process.env.LEASE_BENCH_PROVIDER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length
  if (n < 2) return Number.NaN
  const mx = points.reduce((a, [x]) => a + x, 0) / n
  const my = points.reduce((a, [, y]) => a + y, 0) / n
  const sxy = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0)
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0)
  return sxy / sxx
}
const PRICE = 1_000n
/** Lease streams one renter connection may hold (the provider's per-connection limit). */
const LEASES_PER_NODE = 8

const inputs = () => ({
  a: new Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]),
  b: new Tensor('float32', Float32Array.from([1, 1, 1, 1, 1, 1]), [2, 3]),
})

const sleep = async (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function run(): Promise<object> {
  const chain = await startDevChain()
  const dir = await mkdtemp(join(tmpdir(), 'pb-bench-lease-'))
  const chainFile = await writeChainFile(chain, dir)
  const model = addModel()
  const modelFile = join(dir, 'add.onnx')
  await writeFile(modelFile, model)
  const providerDir = join(dir, 'provider')
  const { provider, address, peerId } = await startProviderCli({
    dataDir: providerDir,
    chainFile,
    privateKey: chain.accounts[2]!.privateKey,
    price: PRICE,
    modelFile,
    flags: ['--threads', String(MAX_LEASES), '--max-lease-seconds', '600'],
    nodeArgs: PROVIDER_NODE_ARGS,
  }).catch(async (err: Error) => {
    await chain.stop()
    throw err
  })
  const nodes: ParkbenchNode[] = []
  try {
    const providerPeer = peerIdFromString(peerId)
    const status = async (reset = false): Promise<DaemonStatus> =>
      controlRequest<DaemonStatus>(providerDir, 'GET', `/v1/status${reset ? '?reset=1' : ''}`)

    // 1. Time to first result.
    const firstResult: Record<string, object> = {}
    for (const [label, offerCacheMs] of [
      ['offer cache on (default)', 30_000],
      ['offer cache off (DHT lookup each lease)', 0],
    ] as const) {
      const client = await createClient({
        dataDir: join(dir, 'renter'),
        chain,
        account: privateKeyToAccount(chain.accounts[1]!.privateKey),
        bootstrap: [address],
        idleMs: 600_000,
        offerCacheMs,
      })
      try {
        // Opens (or reuses) the channel and warms the connection and the provider's model session.
        await client.infer({ model, inputs: inputs(), maxPricePerSecond: PRICE * 2n })
        const cold: number[] = []
        const held: number[] = []
        for (let i = 0; i < FIRST_RESULT_RUNS; i++) {
          await client.endLeases()
          let t0 = performance.now()
          await client.infer({ model, inputs: inputs(), maxPricePerSecond: PRICE * 2n })
          cold.push(performance.now() - t0)
          t0 = performance.now()
          await client.infer({ model, inputs: inputs(), maxPricePerSecond: PRICE * 2n })
          held.push(performance.now() - t0)
        }
        firstResult[label] = {
          runs: FIRST_RESULT_RUNS,
          noLeaseToFirstResultMs: { p50: round(percentile(cold, 50)), p95: round(percentile(cold, 95)) },
          leaseHeldInferMs: { p50: round(percentile(held, 50)), p95: round(percentile(held, 95)) },
        }
      } finally {
        await client.close()
      }
    }
    printTable(
      'client.infer() with no lease held (channel open) to first result, ms',
      Object.entries(firstResult).map(([label, r]) => {
        const x = r as { noLeaseToFirstResultMs: { p50: number; p95: number }; leaseHeldInferMs: { p50: number } }
        return {
          discovery: label,
          p50: x.noLeaseToFirstResultMs.p50,
          p95: x.noLeaseToFirstResultMs.p95,
          'lease held p50': x.leaseHeldInferMs.p50,
        }
      }),
    )

    // 2. Concurrent leases: the renters live in this process, the provider in its own.
    const renterAccount = privateKeyToAccount(chain.accounts[3]!.privateKey)
    const wallet = createPayWalletClient(chain, renterAccount)
    const providerStatus = await status()
    const payout = providerStatus.payoutAddress as Hex
    const providerNode = providerNodeId(peerIdFromString(providerStatus.peerId).toMultihash().bytes)
    const store = await createPaymentStore({ path: join(dir, 'ramp-payments') })
    const sender = createPaymentSender(
      { store, account: renterAccount },
      { chainId: chain.chainId, contract: chain.contract },
    )
    await sender.start()
    const channels: Hex[] = []
    for (let i = 0; i < MAX_LEASES; i++) {
      const opened = await openChannel(wallet, {
        contract: chain.contract,
        provider: payout,
        providerNode,
        amount: parseEther('0.01'),
      })
      channels.push(opened.channelId)
    }
    const leases: RenterLease[] = []
    let ended = 0
    const addLease = async (): Promise<void> => {
      const i = leases.length
      if (i % LEASES_PER_NODE === 0) {
        const node = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], dhtServer: false })
        await node.peerStore.merge(providerPeer, { multiaddrs: [multiaddr(address)] })
        nodes.push(node)
      }
      const lease = await openLease(
        { node: nodes[nodes.length - 1]!, sender },
        {
          provider: providerPeer,
          providerPeerId: providerPeer,
          channelId: channels[i]!,
          maxPricePerSecond: PRICE,
          seconds: 600,
        },
      )
      void lease.ended.then(() => {
        ended++
      })
      await lease.waitPaidUp()
      leases.push(lease)
    }

    await sleep(1_000)
    const cpuOf = (s: DaemonStatus): number => s.load.cpuUserMicros + s.load.cpuSystemMicros
    // The idle provider's CPU rate, from several windows: one window's noise (a GC, a DHT refresh) is as large as a
    // few leases' cost, and subtracting it from a single lease gave a negative cost per lease-second.
    const idleRates: number[] = []
    for (let w = 0; w < IDLE_WINDOWS; w++) {
      const idleStart = await status(true)
      await sleep(WINDOW_MS)
      const idle = await status(true)
      idleRates.push((cpuOf(idle) - cpuOf(idleStart)) / idle.load.eventLoop.windowMs)
    }
    const idleCpuPerMs = percentile(idleRates, 50)
    const idleSpreadPerMs = Math.max(...idleRates) - Math.min(...idleRates)
    // The renters' own event loop: if it lags, ticks go late and the rig, not the provider, is the limit.
    const renterLoop = monitorEventLoopDelay({ resolution: 10 })
    renterLoop.enable()
    const ramp: Array<Record<string, number>> = []
    let sustained = 0
    let before: DaemonStatus
    let openFailure: string | undefined
    for (const level of LEVELS) {
      try {
        while (leases.length < level) await addLease()
      } catch (err) {
        // A lease that ends before its first paid second (a tick late past the grace while thousands of others
        // tick) is this level failing, not the bench.
        openFailure = `opening lease ${leases.length + 1} failed: ${(err as { code?: string }).code ?? (err as Error).message}`
        process.stderr.write(`${openFailure}\n`)
        break
      }
      await sleep(2_000) // let the opening burst pass
      before = await status(true)
      const endedBefore = ended
      renterLoop.reset()
      const windowFrom = process.hrtime.bigint() / 1000n
      await sleep(WINDOW_MS)
      const after = await status(true)
      // For profile-summary.js FROM TO: this window's samples in the provider's --cpu-prof profile.
      process.stderr.write(`${level} leases: window ${windowFrom} ${process.hrtime.bigint() / 1000n} (monotonic us)\n`)
      const renterP99 = Math.max(0, round(renterLoop.percentile(99) / 1e6 - 10))
      const windowMs = after.load.eventLoop.windowMs
      const cpuMicros = cpuOf(after) - cpuOf(before)
      const leaseSeconds = (level * windowMs) / 1000
      const row = {
        leases: level,
        activeOnProvider: after.load.leases.active,
        endedEarly: ended - endedBefore,
        providerCpuPercent: round((cpuMicros / 1000 / windowMs) * 100, 1),
        providerCpuMicrosPerSecond: round((cpuMicros / windowMs) * 1000, 0),
        cpuMicrosPerLeaseSecond: round((cpuMicros - idleCpuPerMs * windowMs) / leaseSeconds, 1),
        // How far the idle windows disagreed, per lease-second at this level: below it the figure is noise.
        idleNoiseMicrosPerLeaseSecond: round((idleSpreadPerMs * windowMs) / leaseSeconds, 1),
        loopDelayP50Ms: after.load.eventLoop.p50Ms,
        loopDelayP99Ms: after.load.eventLoop.p99Ms,
        loopDelayMaxMs: after.load.eventLoop.maxMs,
        renterLoopDelayP99Ms: renterP99,
      }
      ramp.push(row)
      process.stderr.write(`${JSON.stringify(row)}\n`)
      // A level holds only if every lease opened so far is still running (one ended between windows counts too).
      if (row.loopDelayP99Ms < 20 && row.endedEarly === 0 && row.activeOnProvider === level) sustained = level
      else break
    }
    printTable('one provider, concurrent paid leases (1 s ticks, no jobs), 5 s windows', ramp)

    renterLoop.disable()
    await Promise.all(leases.map(async (l) => l.end()))
    await sender.stop()
    await store.stop()
    return {
      model: 'add (2x3 float32), held by the provider',
      timeToFirstResult: firstResult,
      goalFirstResultP50Ms: 100,
      concurrentLeases: {
        tickIntervalMs: 1_000,
        windowMs: WINDOW_MS,
        idleProviderCpuPercent: round((idleCpuPerMs / 1000) * 100, 2),
        idleWindows: idleRates.map((r) => round((r / 1000) * 100, 2)),
        // The cost of one more lease: the least-squares slope of the provider's CPU rate over the leases held,
        // which no idle baseline enters.
        marginalCpuMicrosPerLeaseSecond: round(slope(ramp.map((r) => [r.leases!, r.providerCpuMicrosPerSecond!])), 1),
        ramp,
        sustainedWithLoopDelayP99Under20Ms: sustained,
        levelsTried: LEVELS,
        ...(openFailure === undefined ? {} : { openFailure }),
        note:
          sustained === MAX_LEASES
            ? `every level up to ${MAX_LEASES} held; the renters (${MAX_LEASES} leases in one process on the same 2 cores) are the limit of this rig`
            : 'the first level that broke the goal ends the ramp',
      },
    }
  } finally {
    for (const n of nodes) {
      try {
        await n.stop()
      } catch {}
    }
    await provider.stop()
    await chain.stop()
  }
}
