/**
 * `npm run bench -- compute`: inference throughput and latency, side by side in one run, on the light SqueezeNet
 * and ResNet-50 graphs at concurrency 1 and 8:
 *   (a) onnxruntime-node called directly in this process (ORT's default options, and one intra-op thread),
 *   (b) parkbench remote: a provider in a separate process on loopback (what a renter sees), client here,
 *   (c) a node:http server taking JSON tensors, in a separate process (what a user would otherwise build).
 * Also the provider's main-thread event-loop delay during (b), and the HTTP server's during (c), for contrast.
 * Then issue #16's floor, breakdown and pinned comparison (compute-fast-path.ts).
 * Set BENCH_DURATION_MS to change the time per cell (default 3000; 5000 before the fast-path figures were added).
 */
import '../../src/polyfill.js'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { availableParallelism, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createInterface, type Interface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import { InferenceSession, Tensor } from 'onnxruntime-node'
import { exchange, infer } from '../../src/compute/infer.js'
import { createInferClient, encodeInferRequest } from '../../src/compute/infer-client.js'
import { ModelStore } from '../../src/compute/model-store.js'
import { pushModel, type TransferProgress } from '../../src/compute/model-transfer.js'
import { residentBytes } from '../../src/compute/worker-process.js'
import { createNode } from '../../src/net/create-node.js'
import { type FastPathModel, floorAndBreakdown, issue16Goals, pinned } from './compute-fast-path.js'
import { type Cell, measure } from './measure.js'
import { printTable, round } from './stats.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const LIGHT = join(ROOT, 'test', 'fixtures', 'onnx-backend-data', 'light')
const PROVIDER = join(ROOT, 'dist', 'test', 'compute', 'provider-process.js')
const HTTP_SERVER = join(ROOT, 'dist', 'test', 'compute', 'http-json-server.js')
const MODELS = [
  { name: 'squeezenet', file: 'light_squeezenet.onnx' },
  { name: 'resnet50', file: 'light_resnet50.onnx' },
]
const CONCURRENCY = [1, 8]

interface Child {
  process: ChildProcess
  lines: Interface
  first: Record<string, unknown>
  /** Ask for the child's event-loop delay since the last ask. */
  eld(): Promise<{ p50: number; p99: number; max: number }>
  stop(): Promise<void>
}

async function startChild(script: string, args: string[]): Promise<Child> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout! })
  const queue: Array<(line: string) => void> = []
  lines.on('line', (line) => queue.shift()?.(line))
  const next = (): Promise<string> =>
    new Promise((resolve, reject) => {
      queue.push(resolve)
      child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)))
    })
  const first = JSON.parse(await next()) as Record<string, unknown>
  return {
    process: child,
    lines,
    first,
    async eld() {
      const reply = next()
      child.stdin!.write('eld\n')
      return (JSON.parse(await reply) as { eld: { p50: number; p99: number; max: number } }).eld
    },
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.stdin!.end()
      await exited
    },
  }
}

function randomInput(dims: number[]): Float32Array {
  let seed = 42
  return Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed / 2 ** 31
  })
}

function httpPost(agent: Agent, port: number, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/infer',
        agent,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          if (res.statusCode === 200) resolve(text)
          else reject(new Error(text))
        })
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

export async function run(): Promise<object> {
  const durationMs = Number(process.env.BENCH_DURATION_MS ?? 3000)
  const dataDir = await mkdtemp(join(tmpdir(), 'parkbench-bench-compute-'))
  const store = new ModelStore({ dataDir })
  const records = await Promise.all(MODELS.map((m) => store.add(join(LIGHT, m.file), { name: m.name })))
  // BENCH_COMPUTE_WORKERS / BENCH_COMPUTE_INTRA_OP override the provider's pool (default: the service's defaults).
  const poolArgs = [process.env.BENCH_COMPUTE_WORKERS, process.env.BENCH_COMPUTE_INTRA_OP].filter(
    (v) => v !== undefined,
  )
  const provider = await startChild(PROVIDER, [dataDir, ...(poolArgs.length === 2 ? poolArgs : [])])
  const providerAddr = multiaddr(provider.first.addr as string)
  const client = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  // What a renter with a lease uses: one client per provider, pipelining every job on one stream.
  const pipelined = createInferClient(client, providerAddr)
  const clientDelay = monitorEventLoopDelay({ resolution: 5 })
  const results: Record<string, unknown> = {}
  const rows: Array<Record<string, string | number>> = []
  const fastModels: FastPathModel[] = []
  try {
    for (const [index, model] of MODELS.entries()) {
      const record = records[index]!
      const input = record.inputs[0]!
      const dims = input.dims.map((d) => (typeof d === 'number' && d > 0 ? d : 1))
      const data = randomInput(dims)
      const tensor = new Tensor('float32', data, dims)
      const path = join(LIGHT, model.file)
      fastModels.push({ name: model.name, sha256: record.sha256, path, inputName: input.name, tensor })
      const sessionDefault = await InferenceSession.create(path, { logSeverityLevel: 4 })
      const sessionOne = await InferenceSession.create(path, { intraOpNumThreads: 1, logSeverityLevel: 4 })
      const http = await startChild(HTTP_SERVER, [path, '1'])
      const agent = new Agent({ keepAlive: true, maxSockets: 16 })

      // The same outputs either way: compare once before timing.
      const local = (await sessionOne.run({ [input.name]: tensor }))[record.outputs[0]!.name]!.data as Float32Array
      const remote = (await infer(client, providerAddr, { model: record.sha256, inputs: { [input.name]: tensor } }))
        .outputs[record.outputs[0]!.name]!.data as Float32Array
      const maxAbsDiff = local.reduce((m, v, i) => Math.max(m, Math.abs(v - remote[i]!)), 0)

      const perModel: Record<string, unknown> = { inputDims: dims, maxAbsDiffRemoteVsLocal: maxAbsDiff }
      for (const concurrency of CONCURRENCY) {
        const cells: Record<string, unknown> = {}
        cells.localDefault = await measure(
          async () => {
            await sessionDefault.run({ [input.name]: tensor })
          },
          concurrency,
          durationMs,
        )
        cells.local = await measure(
          async () => {
            await sessionOne.run({ [input.name]: tensor })
          },
          concurrency,
          durationMs,
        )
        await provider.eld()
        clientDelay.reset()
        clientDelay.enable()
        cells.remote = await measure(
          async () => {
            await pipelined.infer({ model: record.sha256, inputs: { [input.name]: tensor } })
          },
          concurrency,
          durationMs,
        )
        clientDelay.disable()
        cells.remoteStreamPerRequest = await measure(
          async () => {
            const request = encodeInferRequest({ model: record.sha256, inputs: { [input.name]: tensor } })
            await exchange(client, providerAddr, request)
          },
          concurrency,
          durationMs,
        )
        const ms = (ns: number): number => round(ns / 1e6)
        cells.remoteEventLoopDelayMs = {
          provider: await provider.eld(),
          client: {
            p50: ms(clientDelay.percentile(50)),
            p99: ms(clientDelay.percentile(99)),
            max: ms(clientDelay.max),
          },
        }
        await http.eld()
        cells.httpJson = await measure(
          async () => {
            const body = JSON.stringify({ inputs: { [input.name]: { dims, data: Array.from(data) } } })
            const reply = JSON.parse(await httpPost(agent, http.first.port as number, body)) as {
              outputs: Record<string, { data: number[] }>
            }
            Float32Array.from(reply.outputs[record.outputs[0]!.name]!.data)
          },
          concurrency,
          durationMs,
        )
        cells.httpEventLoopDelayMs = await http.eld()
        const best = Math.max((cells.local as Cell).throughputPerSec, (cells.localDefault as Cell).throughputPerSec)
        cells.remoteVsBestLocal = round((cells.remote as Cell).throughputPerSec / best, 3)
        cells.remoteVsHttpJson = round(
          (cells.remote as Cell).throughputPerSec / (cells.httpJson as Cell).throughputPerSec,
          3,
        )
        perModel[`concurrency${concurrency}`] = cells
        for (const mode of ['localDefault', 'local', 'remote', 'remoteStreamPerRequest', 'httpJson'] as const) {
          const cell = cells[mode] as Cell
          rows.push({
            model: model.name,
            c: concurrency,
            mode,
            'req/s': cell.throughputPerSec,
            'p50 ms': cell.p50Ms,
            'p95 ms': cell.p95Ms,
            n: cell.requests,
            errors: cell.errors,
          })
        }
      }
      results[model.name] = perModel
      agent.destroy()
      await http.stop()
      await sessionDefault.release()
      await sessionOne.release()
    }
    const cores = availableParallelism()
    const providerIntraOp = Number(poolArgs[1] ?? Math.floor(cores / Math.max(1, Math.floor(cores / 2))))
    results.fastPath = {
      machine:
        'shared: other engineers ran builds and benchmarks on these 2 cores at the same time; figures are medians of alternating rounds with their min-max spread',
      floor: await floorAndBreakdown(client, providerAddr, fastModels, { rounds: 3, cellMs: 1500, providerIntraOp }),
      pinned: await pinned(client, dataDir, fastModels, { rounds: 2, cellMs: 2000 }),
    }
    results.protocolOverhead = await protocolOverhead(client, providerAddr, dataDir, pipelined, durationMs)
    results.modelTransfer = await modelTransfer(client, providerAddr, provider.process.pid)
  } finally {
    await pipelined.close()
    await client.stop()
    await provider.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
  printTable('compute: local (in-process) vs parkbench remote (loopback, provider process) vs HTTP+JSON', rows)
  const eldRows = MODELS.flatMap((m) =>
    CONCURRENCY.map((c) => {
      const cells = (results[m.name] as Record<string, Record<string, unknown>>)[`concurrency${c}`]!
      const eld = cells.remoteEventLoopDelayMs as Record<string, { p99: number }>
      return {
        model: m.name,
        c,
        'provider p99 ms (b)': eld.provider!.p99,
        'client p99 ms (b)': eld.client!.p99,
        'http server p99 ms (c)': (cells.httpEventLoopDelayMs as { p99: number }).p99,
        'remote/best local': cells.remoteVsBestLocal as number,
        'remote/http': cells.remoteVsHttpJson as number,
      }
    }),
  )
  printTable('main-thread event-loop delay and ratios', eldRows)
  return {
    setup: {
      durationMsPerCell: durationMs,
      cores: availableParallelism(),
      local: 'one InferenceSession in this process; localDefault = ORT default options, local = intraOpNumThreads 1',
      remote:
        'provider in a separate process (test/compute/provider-process.ts, default pool: cores/2 workers x 2 intra-op threads), client node in this process, TCP+noise+yamux on 127.0.0.1; remote = one InferClient pipelining all requests on one stream, remoteStreamPerRequest = exchange() opening a stream per request',
      httpJson:
        'node:http server in a separate process, JSON float arrays both ways, ORT on its main thread with 1 intra-op thread, keep-alive client',
    },
    pool: poolArgs.length === 2 ? { workers: Number(poolArgs[0]), intraOpThreads: Number(poolArgs[1]) } : 'defaults',
    issue16Goals: issue16Goals(results),
    results,
  }
}

/**
 * The fixed cost of the protocol, on a model that does nothing (Add on 2x3): local run vs pipelined remote vs one
 * stream per request, at concurrency 1. The difference between the last two is the stream set-up per request.
 */
async function protocolOverhead(
  client: Awaited<ReturnType<typeof createNode>>,
  providerAddr: ReturnType<typeof multiaddr>,
  dataDir: string,
  pipelined: ReturnType<typeof createInferClient>,
  durationMs: number,
): Promise<object> {
  const { addModel } = await import('../compute/onnx-builder.js')
  const store = new ModelStore({ dataDir })
  const record = await store.add(addModel(), { name: 'add-2x3' })
  const a = new Tensor('float32', new Float32Array(6).fill(1), [2, 3])
  const session = await InferenceSession.create(addModel(), { intraOpNumThreads: 1, logSeverityLevel: 4 })
  const time = Math.min(durationMs, 3000)
  const local = await measure(
    async () => {
      await session.run({ a, b: a })
    },
    1,
    time,
  )
  const remote = await measure(
    async () => {
      await pipelined.infer({ model: record.sha256, inputs: { a, b: a } })
    },
    1,
    time,
  )
  const streamPerRequest = await measure(
    async () => {
      await exchange(client, providerAddr, encodeInferRequest({ model: record.sha256, inputs: { a, b: a } }))
    },
    1,
    time,
  )
  await session.release()
  printTable('protocol overhead on a no-op model (Add 2x3), concurrency 1', [
    { mode: 'local', 'p50 ms': local.p50Ms, 'p95 ms': local.p95Ms },
    { mode: 'remote pipelined', 'p50 ms': remote.p50Ms, 'p95 ms': remote.p95Ms },
    { mode: 'remote stream per request', 'p50 ms': streamPerRequest.p50Ms, 'p95 ms': streamPerRequest.p95Ms },
  ])
  return { local, remotePipelined: remote, remoteStreamPerRequest: streamPerRequest }
}

/**
 * Model pushes of 10 and 100 MiB to the provider process (flow-controlled over /parkbench/model/1.0.0): time until
 * the client's last chunk has left its stream (the muxer holds at most its window, 16 MiB, in flight), time to the
 * stored reply (the provider hashes as bytes arrive, then fsyncs and has onnxruntime load the model in a worker),
 * and how much the provider's main process grew meanwhile (it holds at most 2 MiB unread, whatever the size).
 */
async function modelTransfer(
  client: Awaited<ReturnType<typeof createNode>>,
  providerAddr: ReturnType<typeof multiaddr>,
  providerPid: number | undefined,
): Promise<object> {
  const { addModel, padModel } = await import('../compute/onnx-builder.js')
  const rows: Array<Record<string, string | number>> = []
  const out: Record<string, unknown> = {}
  for (const mib of [10, 100]) {
    const model = padModel(addModel(), mib * 1024 * 1024 + mib)
    const before = residentBytes(providerPid) ?? 0
    let peak = before
    const sampler = setInterval(() => {
      peak = Math.max(peak, residentBytes(providerPid) ?? 0)
    }, 5)
    let sentAt = 0
    const started = performance.now()
    await pushModel(client, providerAddr, model, {
      onProgress: (e: TransferProgress) => {
        if (e.type === 'model:verifying') sentAt = performance.now()
      },
    })
    const doneMs = performance.now() - started
    clearInterval(sampler)
    const sendMs = (sentAt || performance.now()) - started
    const cell = {
      bytes: model.byteLength,
      lastChunkOutMs: round(sendMs),
      storedMs: round(doneMs),
      lastChunkOutMiBPerSec: round((model.byteLength / 2 ** 20 / sendMs) * 1000),
      storedMiBPerSec: round((model.byteLength / 2 ** 20 / doneMs) * 1000),
      providerMainGrowthMiB: round((peak - before) / 2 ** 20),
    }
    out[`push${mib}MiB`] = cell
    rows.push({
      model: `${mib} MiB`,
      'last chunk out ms': cell.lastChunkOutMs,
      'stored ms': cell.storedMs,
      'MiB/s out': cell.lastChunkOutMiBPerSec,
      'MiB/s stored': cell.storedMiBPerSec,
      'provider +MiB': cell.providerMainGrowthMiB,
    })
  }
  printTable('model push over /parkbench/model/1.0.0 (flow-controlled), provider process on loopback', rows)
  return out
}
