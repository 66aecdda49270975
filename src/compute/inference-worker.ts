/**
 * The body of one inference worker process. onnxruntime-node's `session.run()` holds the thread for the whole
 * inference, so each worker runs one job at a time and keeps its own LRU of loaded sessions under a byte budget.
 * Started by {@link WorkerPool} (through spawnWorkerProcess, with its memory capped); speaks the messages in
 * worker-messages.ts over the IPC channel.
 */
import { Socket } from 'node:net'
import { InferenceSession } from 'onnxruntime-node'
import { inspectModel } from './inspect-model.js'
import { tensorBytes, toOrtTensor } from './tensor.js'
import {
  ChannelReader,
  type ChannelTensor,
  channelTensors,
  WORKER_DATA_FD,
  writeChannelMessage,
} from './worker-channel.js'
import type { FromWorker, NamedTensor, RunJob, ToWorker, WorkerFailure, WorkerInit } from './worker-messages.js'
import { WORKER_INIT_ENV } from './worker-process.js'

const send = process.send?.bind(process)
if (send === undefined) throw new Error('inference-worker.ts must run as a worker process (with an IPC channel)')
const init = JSON.parse(process.env[WORKER_INIT_ENV] ?? '{}') as WorkerInit
const data = new Socket({ fd: WORKER_DATA_FD, readable: true, writable: true })

/**
 * One buffer every job's inputs are read into: a worker runs one job at a time and its inputs are dead once it has
 * answered, so the next job overwrites them. Replaced when a job needs more, or when it is far larger than needed.
 */
let slab = new Uint8Array(0)
function inputBuffer(bytes: number): Uint8Array {
  if (slab.byteLength < bytes || slab.byteLength > Math.max(4 * bytes, 16 << 20)) slab = new Uint8Array(bytes)
  return slab.subarray(0, bytes)
}

interface LoadedSession {
  session: InferenceSession
  bytes: number
}

/** Map order is use order: the first entry is the least recently used. */
const sessions = new Map<string, LoadedSession>()
let sessionBytes = 0

/** A session's memory is dominated by its weights, so the model file size is the estimate. */
function estimateBytes(sizeBytes: number): number {
  return Math.max(sizeBytes, 1 << 20)
}

async function getSession(sha256: string, path: string, sizeBytes: number): Promise<LoadedSession> {
  const hit = sessions.get(sha256)
  if (hit !== undefined) {
    sessions.delete(sha256)
    sessions.set(sha256, hit)
    return hit
  }
  const session = await InferenceSession.create(path, {
    intraOpNumThreads: init.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 4,
    // No arena: what a run allocates goes back to the system when it ends, instead of staying reserved in the
    // arena for ever (measured: a 20000x20000 job left 5.1 GiB retained), and a failed allocation does not leave the
    // arena unable to serve the next, small one.
    enableCpuMemArena: false,
    // Idle intra-op threads sleep instead of spinning: on a provider they share the cores with the main thread,
    // which decrypts, decodes and answers the network while jobs run.
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  })
  const loaded = { session, bytes: estimateBytes(sizeBytes) }
  sessions.set(sha256, loaded)
  sessionBytes += loaded.bytes
  for (const [key, entry] of sessions) {
    if (sessionBytes <= init.sessionBudgetBytes || key === sha256) break
    sessions.delete(key)
    sessionBytes -= entry.bytes
    await entry.session.release()
  }
  return loaded
}

function post(message: FromWorker): Promise<void> {
  return new Promise((resolve) => send!(message, undefined, {}, () => resolve()))
}

/** An allocation refused by the worker's memory limit, as onnxruntime or V8 reports it. */
function failureOf(err: Error, otherwise: WorkerFailure): WorkerFailure {
  return /Failed to allocate memory|bad_alloc|allocation failed|Array buffer allocation/i.test(err.message)
    ? 'OUT_OF_MEMORY'
    : otherwise
}

async function run(job: RunJob): Promise<void> {
  const loadStart = performance.now()
  const cachedBefore = sessions.has(job.sha256)
  let loaded: LoadedSession
  try {
    loaded = await getSession(job.sha256, job.path, job.sizeBytes)
  } catch (err) {
    await post({
      type: 'failed',
      id: job.id,
      failure: failureOf(err as Error, 'INVALID_MODEL'),
      message: (err as Error).message,
    })
    return
  }
  // A cached session reports no load time at all.
  const loadMs = cachedBefore ? 0 : performance.now() - loadStart
  const feeds: Record<string, ReturnType<typeof toOrtTensor>> = {}
  for (const input of job.inputs) feeds[input.name] = toOrtTensor(input)
  const outputNames = job.outputNames.length > 0 ? job.outputNames : loaded.session.outputNames
  let results: InferenceSession.ReturnType
  // The pool measures the job's memory from here: the session (already loaded) is not the job's.
  void post({ type: 'running', id: job.id, rssBytes: process.memoryUsage.rss() })
  const runStart = performance.now()
  try {
    results = await loaded.session.run(feeds, [...outputNames])
  } catch (err) {
    const message = (err as Error).message
    await post({ type: 'failed', id: job.id, failure: failureOf(err as Error, 'INFERENCE_FAILED'), message })
    return
  }
  const runMs = performance.now() - runStart
  const outputs: NamedTensor[] = []
  let outputBytes = 0
  for (const name of outputNames) {
    const value = results[name] as { type?: string; dims?: readonly number[]; data?: unknown } | undefined
    if (value?.type === undefined || value.dims === undefined) {
      await post({ type: 'failed', id: job.id, failure: 'INFERENCE_FAILED', message: `Output ${name} is not a tensor` })
      return
    }
    let tensor: NamedTensor
    if (value.type === 'string') {
      tensor = { name, dtype: 'string', dims: [...value.dims], data: value.data as string[] }
    } else {
      const view = value.data as ArrayBufferView
      tensor = {
        name,
        dtype: value.type as NamedTensor['dtype'],
        dims: [...value.dims],
        data: new Uint8Array(view.buffer, view.byteOffset, view.byteLength),
      }
    }
    outputBytes += tensorBytes(tensor) + 64
    // Refused here, before a copy of it crosses to the provider.
    if (outputBytes > job.maxOutputBytes) {
      const message = `Outputs are over ${outputBytes} bytes; the limit is ${job.maxOutputBytes}`
      await post({ type: 'failed', id: job.id, failure: 'TOO_LARGE', message })
      return
    }
    outputs.push(tensor)
  }
  // The outputs' bytes go to the socket as they are (views onto onnxruntime's output buffers).
  writeChannelMessage(data, { type: 'done', id: job.id, runMs, loadMs }, 'outputs', outputs)
}

async function inspect(job: Extract<ToWorker, { type: 'inspect' }>): Promise<void> {
  try {
    await post({ type: 'inspected', id: job.id, signature: await inspectModel(job.path) })
  } catch (err) {
    await post({
      type: 'failed',
      id: job.id,
      failure: failureOf(err as Error, 'INVALID_MODEL'),
      message: (err as Error).message,
    })
  }
}

async function exit(): Promise<void> {
  for (const { session } of sessions.values()) await session.release().catch(() => {})
  sessions.clear()
  process.exit(0)
}

function settleTask(id: number, task: Promise<void>): void {
  task.catch((err: Error) => {
    void post({ type: 'failed', id, failure: failureOf(err, 'INFERENCE_FAILED'), message: err.message })
  })
}

process.on('message', (message: ToWorker) => {
  if (message.type === 'exit') {
    void exit()
    return
  }
  settleTask(message.id, inspect(message))
})
const reader = new ChannelReader({
  // The provider is the only writer, and it checked every job against its limits before sending it.
  maxHeaderBytes: 0xffffffff,
  maxPayloadBytes: 0xffffffff,
  payloadBuffer: inputBuffer,
  onMessage(header, payload) {
    const job = header as unknown as RunJob & { inputs: ChannelTensor[] }
    settleTask(
      job.id,
      Promise.resolve().then(() => run({ ...job, inputs: channelTensors(job.inputs, payload) })),
    )
  },
  onError(err) {
    process.stderr.write(`data channel: ${err.message}\n`)
    process.exit(70)
  },
})
data.on('data', (chunk: Buffer) => reader.push(chunk))
data.on('error', () => process.exit(0))
// The provider went away: so does its worker.
process.on('disconnect', () => process.exit(0))
void post({ type: 'ready' })
