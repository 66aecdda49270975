/**
 * The body of one inference worker thread. onnxruntime-node's `session.run()` holds the thread for the whole
 * inference, so each worker runs one job at a time and keeps its own LRU of loaded sessions under a byte budget.
 * Started by {@link WorkerPool}; speaks the messages in worker-messages.ts.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { InferenceSession } from 'onnxruntime-node'
import { inspectModel } from './inspect-model.js'
import { toOrtTensor } from './tensor.js'
import type { FromWorker, NamedTensor, ToWorker, WorkerInit } from './worker-messages.js'

const init = workerData as WorkerInit
const port = parentPort
if (port === null) throw new Error('inference-worker.ts must run in a worker thread')

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

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer)
}

async function run(job: Extract<ToWorker, { type: 'run' }>): Promise<void> {
  const loadStart = performance.now()
  const cachedBefore = sessions.has(job.sha256)
  let loaded: LoadedSession
  try {
    loaded = await getSession(job.sha256, job.path, job.sizeBytes)
  } catch (err) {
    post({ type: 'failed', id: job.id, failure: 'INVALID_MODEL', message: (err as Error).message })
    return
  }
  // A cached session reports no load time at all.
  const loadMs = cachedBefore ? 0 : performance.now() - loadStart
  const feeds: Record<string, ReturnType<typeof toOrtTensor>> = {}
  for (const input of job.inputs) feeds[input.name] = toOrtTensor(input)
  const outputNames = job.outputNames.length > 0 ? job.outputNames : loaded.session.outputNames
  let results: InferenceSession.ReturnType
  const runStart = performance.now()
  try {
    results = await loaded.session.run(feeds, [...outputNames])
  } catch (err) {
    post({ type: 'failed', id: job.id, failure: 'INFERENCE_FAILED', message: (err as Error).message })
    return
  }
  const runMs = performance.now() - runStart
  const outputs: NamedTensor[] = []
  const transfer: ArrayBuffer[] = []
  for (const name of outputNames) {
    const value = results[name] as { type?: string; dims?: readonly number[]; data?: unknown } | undefined
    if (value?.type === undefined || value.dims === undefined) {
      post({ type: 'failed', id: job.id, failure: 'INFERENCE_FAILED', message: `Output ${name} is not a tensor` })
      return
    }
    if (value.type === 'string') {
      outputs.push({ name, dtype: 'string', dims: [...value.dims], data: value.data as string[] })
      continue
    }
    const view = value.data as ArrayBufferView
    let bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength)
    // Transfer the output's buffer when it holds nothing else, else copy it out.
    if (
      bytes.byteOffset !== 0 ||
      bytes.byteLength !== bytes.buffer.byteLength ||
      !(bytes.buffer instanceof ArrayBuffer)
    ) {
      bytes = new Uint8Array(bytes)
    }
    if (!transfer.includes(bytes.buffer as ArrayBuffer)) transfer.push(bytes.buffer as ArrayBuffer)
    outputs.push({ name, dtype: value.type as NamedTensor['dtype'], dims: [...value.dims], data: bytes })
  }
  post({ type: 'done', id: job.id, outputs, runMs, loadMs }, transfer)
}

async function inspect(job: Extract<ToWorker, { type: 'inspect' }>): Promise<void> {
  try {
    post({ type: 'inspected', id: job.id, signature: await inspectModel(job.path) })
  } catch (err) {
    post({ type: 'failed', id: job.id, failure: 'INVALID_MODEL', message: (err as Error).message })
  }
}

async function exit(): Promise<void> {
  for (const { session } of sessions.values()) await session.release().catch(() => {})
  sessions.clear()
  process.exit(0)
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'exit') {
    void exit()
    return
  }
  const task = message.type === 'run' ? run(message) : inspect(message)
  task.catch((err: Error) => {
    post({ type: 'failed', id: message.id, failure: 'INFERENCE_FAILED', message: err.message })
  })
})
post({ type: 'ready' })
