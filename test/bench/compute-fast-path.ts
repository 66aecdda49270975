/**
 * Issue #16's measurements, run inside `npm run bench -- compute`:
 *   floor     the bare libp2p stream (bare-stream.ts, a process of its own) moving each model's request and
 *             response frame sizes, against parkbench remote and local onnxruntime at concurrency 1, in alternating
 *             rounds: "added latency" = remote p50 - local p50, divided by the floor's p50 (goal <= 1.3);
 *   breakdown perf_analyzer's split of traced requests (createInferClient(..., { trace: true }));
 *   pinned    client on cpu 0, provider on cpu 1 (taskset), against local onnxruntime pinned to cpu 1 with the
 *             pinned provider's settings (1 worker, 1 intra-op thread, no spinning, no arena).
 * The machine is shared with other engineers: every figure is a median of rounds, with the rounds' spread.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { InferenceSession, type Tensor } from 'onnxruntime-node'
import { createInferClient, encodeInferRequest } from '../../src/compute/infer-client.js'
import type { InferTrace } from '../../src/compute/infer-trace.js'
import { InferRequest, InferResponse } from '../../src/compute/pb/compute.js'
import type { ParkbenchNode } from '../../src/net/create-node.js'
import { openBareStream } from './bare-stream.js'
import { type Cell, measure } from './measure.js'
import { percentile, printTable, round } from './stats.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const BARE_PEER = join(ROOT, 'dist', 'test', 'bench', 'bare-stream.js')
const PROVIDER = join(ROOT, 'dist', 'test', 'compute', 'provider-process.js')

export interface FastPathModel {
  name: string
  sha256: string
  path: string
  inputName: string
  tensor: Tensor
}

interface JsonChild {
  process: ChildProcess
  first: Record<string, unknown>
  stop(): Promise<void>
}

/** Spawn `command`, wait for its first JSON line; `stop()` closes its stdin and waits for it to exit. */
async function startJsonChild(command: string, args: string[]): Promise<JsonChild> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout! })
  const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
    // Lines before the first JSON one (a node flag such as --trace-gc writes to stdout) go to stderr, as do later ones.
    let found = false
    lines.on('line', (line) => {
      if (!found && line.startsWith('{')) {
        found = true
        resolve(JSON.parse(line) as Record<string, unknown>)
      } else process.stderr.write(`${line}\n`)
    })
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)))
  })
  return {
    process: child,
    first,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.stdin!.end()
      await exited
    },
  }
}

/** Median (of an even count, the mean of the middle two), min and max of one figure over rounds. */
function spread(values: number[]): { median: number; min: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  return { median: round(median, 3), min: round(sorted[0]!, 3), max: round(sorted.at(-1)!, 3) }
}

/** The worker's session options (inference-worker.ts), for a local run that matches the provider's. */
function providerLikeSession(path: string, intraOpNumThreads: number): Promise<InferenceSession> {
  return InferenceSession.create(path, {
    intraOpNumThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 4,
    enableCpuMemArena: false,
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  })
}

function median(traces: InferTrace[], key: keyof InferTrace): number {
  return round(
    percentile(
      traces.map((t) => t[key]),
      50,
    ),
    3,
  )
}

/**
 * Floor, added latency and breakdown, concurrency 1, `rounds` alternating rounds of `cellMs` per mode.
 * `providerIntraOp` is the provider's intra-op threads per worker (its local twin uses the same).
 */
export async function floorAndBreakdown(
  client: ParkbenchNode,
  providerAddr: Multiaddr,
  models: FastPathModel[],
  options: { rounds: number; cellMs: number; providerIntraOp: number },
): Promise<object> {
  const bare = await startJsonChild(process.execPath, [BARE_PEER])
  const bareAddr = multiaddr(bare.first.addr as string)
  const pipelined = createInferClient(client, providerAddr)
  const traced = createInferClient(client, providerAddr, { trace: true })
  const out: Record<string, unknown> = {}
  const rows: Array<Record<string, string | number>> = []
  const breakdownRows: Array<Record<string, string | number>> = []
  try {
    for (const model of models) {
      const parameters = { model: model.sha256, inputs: { [model.inputName]: model.tensor } }
      const requestBytes = InferRequest.encode({ ...encodeInferRequest(parameters), id: 1, cancel: false }).byteLength
      const response = await pipelined.request(encodeInferRequest(parameters))
      const responseBytes = InferResponse.encode(response).byteLength
      const stream = await openBareStream(client, bareAddr, requestBytes, responseBytes)
      const local = await providerLikeSession(model.path, options.providerIntraOp)
      const feeds = { [model.inputName]: model.tensor }
      const cells: Record<'floor' | 'remote' | 'local', Cell[]> = { floor: [], remote: [], local: [] }
      const traces: InferTrace[] = []
      for (let r = 0; r < options.rounds; r++) {
        cells.floor.push(await measure(() => stream.roundTrip(), 1, options.cellMs))
        cells.remote.push(
          await measure(
            async () => {
              await pipelined.infer(parameters)
            },
            1,
            options.cellMs,
          ),
        )
        cells.local.push(
          await measure(
            async () => {
              await local.run(feeds)
            },
            1,
            options.cellMs,
          ),
        )
        const tracedEnd = performance.now() + options.cellMs / 2
        while (performance.now() < tracedEnd) traces.push((await traced.infer(parameters)).trace!)
      }
      await stream.close()
      await local.release()
      const addedPerRound = cells.remote.map((c, i) => c.p50Ms - cells.local[i]!.p50Ms)
      const ratioPerRound = addedPerRound.map((a, i) => a / cells.floor[i]!.p50Ms)
      const floorP50 = spread(cells.floor.map((c) => c.p50Ms))
      const ratio = spread(ratioPerRound)
      // The same figure per traced request, without the noise of two runs' difference: all but session.run().
      const outsideRun = round(
        percentile(
          traces.map((t) => t.totalMs - t.runMs),
          50,
        ),
        3,
      )
      const outsideRunRatio = round(outsideRun / floorP50.median, 2)
      const breakdown = Object.fromEntries(
        (Object.keys(traces[0]!) as Array<keyof InferTrace>).map((k) => [k, median(traces, k)]),
      )
      out[model.name] = {
        requestFrameBytes: requestBytes,
        responseFrameBytes: responseBytes,
        floorP50Ms: floorP50,
        floorP95Ms: spread(cells.floor.map((c) => c.p95Ms)),
        remoteP50Ms: spread(cells.remote.map((c) => c.p50Ms)),
        localP50Ms: spread(cells.local.map((c) => c.p50Ms)),
        addedLatencyP50Ms: spread(addedPerRound),
        addedOverFloor: { ...ratio, goal: 1.3, met: ratio.median <= 1.3 },
        tracedOutsideRunP50Ms: outsideRun,
        tracedOutsideRunOverFloor: { value: outsideRunRatio, goal: 1.3, met: outsideRunRatio <= 1.3 },
        rounds: cells,
        breakdownMedianMs: { ...breakdown, requests: traces.length },
      }
      rows.push({
        model: model.name,
        'req B': requestBytes,
        'resp B': responseBytes,
        'floor p50': floorP50.median,
        'floor p95': spread(cells.floor.map((c) => c.p95Ms)).median,
        'remote p50': spread(cells.remote.map((c) => c.p50Ms)).median,
        'local p50': spread(cells.local.map((c) => c.p50Ms)).median,
        'added/floor': `${ratio.median} (${ratio.min}-${ratio.max})`,
        'traced total-run': outsideRun,
        '/floor': outsideRunRatio,
      })
      breakdownRows.push({ model: model.name, ...breakdown, n: traces.length })
    }
  } finally {
    await pipelined.close()
    await traced.close()
    await bare.stop()
  }
  printTable('fast path: bare-stream floor vs parkbench added latency (remote p50 - local p50), c=1, ms', rows)
  printTable('fast path: per-request breakdown (traced, medians, ms)', breakdownRows)
  return out
}

/** Whether `taskset` can pin here, or why not. */
function tasksetSupport(): string | undefined {
  if (!existsSync('/usr/bin/taskset') && !existsSync('/bin/taskset')) return 'taskset is not installed'
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' })
  } catch (err) {
    return `taskset failed: ${(err as Error).message}`
  }
  return undefined
}

function pinSelf(cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' })
}

/**
 * Pinned comparison: a provider on cpu 1 (1 worker, 1 intra-op thread: what a provider with one core picks), this
 * process as the client on cpu 0; local onnxruntime on cpu 1 with the same settings. Concurrency 1 and 8.
 */
export async function pinned(
  client: ParkbenchNode,
  dataDir: string,
  models: FastPathModel[],
  options: { rounds: number; cellMs: number },
): Promise<object> {
  const unsupported = tasksetSupport()
  if (unsupported !== undefined) return { skipped: unsupported }
  const providerFlags = process.env.BENCH_PROVIDER_NODE_FLAGS?.split(' ').filter((f) => f !== '') ?? []
  const provider = await startJsonChild('taskset', [
    '-c',
    '1',
    process.execPath,
    ...providerFlags,
    PROVIDER,
    dataDir,
    '1',
    '1',
  ])
  const remote = createInferClient(client, multiaddr(provider.first.addr as string))
  const out: Record<string, unknown> = {
    setup:
      'client (this process) on cpu 0; provider process and its worker on cpu 1 (1 worker x 1 intra-op thread); local = this process pinned to cpu 1, one session with the worker options and 1 intra-op thread',
  }
  const rows: Array<Record<string, string | number>> = []
  try {
    for (const model of models) {
      const parameters = { model: model.sha256, inputs: { [model.inputName]: model.tensor } }
      pinSelf('1')
      const local = await providerLikeSession(model.path, 1)
      const perModel: Record<string, unknown> = {}
      for (const concurrency of [1, 8]) {
        const cells: Record<'local' | 'remote', Cell[]> = { local: [], remote: [] }
        for (let r = 0; r < options.rounds; r++) {
          pinSelf('1')
          cells.local.push(
            await measure(
              async () => {
                await local.run({ [model.inputName]: model.tensor })
              },
              concurrency,
              options.cellMs,
            ),
          )
          pinSelf('0')
          cells.remote.push(
            await measure(
              async () => {
                await remote.infer(parameters)
              },
              concurrency,
              options.cellMs,
            ),
          )
        }
        const ratios = cells.remote.map((c, i) => c.throughputPerSec / cells.local[i]!.throughputPerSec)
        const ratio = spread(ratios.map((x) => round(x, 3)))
        const goal = model.name === 'squeezenet' ? 0.9 : 0.97
        perModel[`concurrency${concurrency}`] = {
          local: cells.local,
          remote: cells.remote,
          remoteOverLocalThroughput: { ...ratio, goal, met: ratio.median >= goal },
        }
        rows.push({
          model: model.name,
          c: concurrency,
          'local req/s': spread(cells.local.map((c) => c.throughputPerSec)).median,
          'remote req/s': spread(cells.remote.map((c) => c.throughputPerSec)).median,
          'local p50': spread(cells.local.map((c) => c.p50Ms)).median,
          'remote p50': spread(cells.remote.map((c) => c.p50Ms)).median,
          'remote/local': `${ratio.median} (${ratio.min}-${ratio.max})`,
          goal,
        })
      }
      await local.release()
      out[model.name] = perModel
    }
  } finally {
    pinSelf('0-1')
    await remote.close()
    await provider.stop()
  }
  printTable('fast path: pinned (client cpu 0, provider cpu 1) vs local pinned to cpu 1', rows)
  return out
}

interface Goal {
  goal: string
  value: number | null
  met: boolean | null
  note?: string
}

/** Issue #16's compute goals, met or not, from this run's results (the lease goals live in the lease bench). */
export function issue16Goals(results: Record<string, unknown>): Record<string, Goal> {
  const at = (path: string): unknown =>
    path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], results)
  const goals: Record<string, Goal> = {}
  for (const model of ['squeezenet', 'resnet50']) {
    const ratio = at(`fastPath.floor.${model}.addedOverFloor.median`) as number | undefined
    const traced = at(`fastPath.floor.${model}.tracedOutsideRunOverFloor.value`) as number | undefined
    goals[`${model}AddedLatencyOverFloor`] = {
      goal: '<= 1.3 (remote p50 - local p50, over the bare-stream p50 for the same bytes)',
      value: ratio ?? null,
      met: ratio === undefined ? null : ratio <= 1.3,
      note: `traced requests (total - session.run) over the floor: ${traced}`,
    }
    const pinnedGoal = model === 'squeezenet' ? 0.9 : 0.97
    const pinnedSkipped = at('fastPath.pinned.skipped') as string | undefined
    for (const c of [1, 8]) {
      const value = at(`fastPath.pinned.${model}.concurrency${c}.remoteOverLocalThroughput.median`) as
        | number
        | undefined
      goals[`${model}PinnedThroughputC${c}`] = {
        goal: `>= ${pinnedGoal} remote/local req/s, client cpu 0, provider cpu 1, local on cpu 1`,
        value: value ?? null,
        met: value === undefined ? null : value >= pinnedGoal,
        ...(pinnedSkipped === undefined ? {} : { note: pinnedSkipped }),
      }
    }
    const unpinnedGoal = model === 'squeezenet' ? 0.6 : 0.9
    const unpinned = at(`${model}.concurrency8.remoteVsBestLocal`) as number | undefined
    goals[`${model}UnpinnedThroughputC8`] = {
      goal: `>= ${unpinnedGoal} remote/best local req/s at concurrency 8`,
      value: unpinned ?? null,
      met: unpinned === undefined ? null : unpinned >= unpinnedGoal,
    }
  }
  return goals
}
