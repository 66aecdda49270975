import { availableParallelism } from 'node:os'
import { type ResourceLimits, Worker } from 'node:worker_threads'
import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { AbortedError, ParkbenchError } from '../errors.js'
import {
  BusyError,
  DeadlineExceededError,
  InferenceFailedError,
  InvalidModelError,
  ShuttingDownError,
  WorkerCrashedError,
} from './errors.js'
import type { ModelSignature } from './inspect-model.js'
import { ownedBytes } from './tensor.js'
import type { FromWorker, NamedTensor, ToWorker, WorkerInit } from './worker-messages.js'

const log = logger('parkbench:compute:pool')

export interface WorkerPoolInit {
  /**
   * Worker threads, each running one job at a time. Default: one per two cores (at least 1), which with the default
   * intra-op threads fills the machine without oversubscribing it.
   */
  workers?: number
  /**
   * onnxruntime intra-op threads per session. Default: the cores divided among the workers (2 on most machines).
   * Measured on 2 cores: one worker with 2 threads halved ResNet-50 latency at concurrency 1 compared with two
   * single-thread workers, and matched them at concurrency 8 (bench-results/compute.json).
   */
  intraOpThreads?: number
  /** Jobs waiting for a worker at most; one more is refused with BusyError. Default 64. */
  maxQueue?: number
  /** Bytes of loaded sessions across all workers (split evenly between them). Default 1 GiB. */
  sessionMemoryBytes?: number
  /**
   * After a running job is aborted, how long its worker may keep running it before the pool starts a fresh worker
   * in its place (the old one exits when its run returns: onnxruntime cannot interrupt a run). Default 2000 ms.
   */
  abortGraceMs?: number
  /**
   * How long `stop()` waits for a worker to finish the run it is in before terminating it anyway (which can take
   * the process down with it: onnxruntime does not survive its thread being terminated mid-run). Default 10 s.
   */
  stopTimeoutMs?: number
  /** V8 heap limits for each worker (node's `resourceLimits`); a worker over them dies and is replaced. */
  resourceLimits?: ResourceLimits
}

/** One inference job for the pool. Inputs must already be checked against the model's signature. */
export interface PoolJob {
  sha256: string
  /** The model file. */
  path: string
  sizeBytes: number
  inputs: NamedTensor[]
  /** Outputs wanted; empty for all. */
  outputNames: string[]
}

export interface PoolResult {
  outputs: NamedTensor[]
  /** Time waiting for a worker. */
  queueMs: number
  /** Time in `session.run()`. */
  runMs: number
  /** Time loading the session, 0 when it was cached. */
  loadMs: number
}

export interface PoolStats {
  workers: number
  busy: number
  queued: number
  completed: number
  failed: number
  crashed: number
  refused: number
}

interface PendingJob {
  id: number
  message: ToWorker
  transfer: ArrayBuffer[]
  sha256?: string
  enqueuedAt: number
  startedAt?: number
  settled: boolean
  resolve(result: FromWorker): void
  reject(err: Error): void
  cleanup(): void
}

interface PoolWorker {
  worker: Worker
  ready: boolean
  job?: PendingJob | undefined
  /** Models this worker has run (a hint: it probably still holds their sessions). */
  models: Set<string>
  /** Taken out of service by the pool on purpose: its exit is not a crash. */
  retired: boolean
  exited: boolean
}

const WORKER_URL = new URL('./inference-worker.js', import.meta.url)

/** Map an abort reason onto the error the job fails with. */
export function abortError(signal: AbortSignal): Error {
  const reason = signal.reason as Error | undefined
  if (reason instanceof ParkbenchError) return reason
  if (reason?.name === 'TimeoutError') return new DeadlineExceededError(undefined, { cause: reason })
  return new AbortedError(undefined, { cause: reason })
}

/**
 * Runs inference in worker threads so the main thread's event loop stays free while models run. A bounded queue
 * refuses work it cannot take (BusyError), every job can be aborted (deadline or caller), and a worker that dies
 * fails only its own job (WorkerCrashedError) and is replaced.
 */
export class WorkerPool {
  readonly size: number
  readonly intraOpThreads: number
  readonly maxQueue: number
  private readonly sessionMemoryBytes: number
  private readonly abortGraceMs: number
  private readonly stopTimeoutMs: number
  private readonly resourceLimits: ResourceLimits | undefined
  private readonly workers = new Set<PoolWorker>()
  /** Workers asked to exit that are still finishing a run. */
  private readonly retiring = new Set<PoolWorker>()
  private queue: PendingJob[] = []
  private nextId = 1
  private running = false
  private readonly counters = { completed: 0, failed: 0, crashed: 0, refused: 0 }

  constructor(init: WorkerPoolInit = {}) {
    const cores = availableParallelism()
    this.size = Math.max(1, init.workers ?? Math.floor(cores / 2))
    this.intraOpThreads = Math.max(1, init.intraOpThreads ?? Math.floor(cores / this.size))
    this.maxQueue = Math.max(0, init.maxQueue ?? 64)
    this.sessionMemoryBytes = init.sessionMemoryBytes ?? 1024 * 1024 * 1024
    this.abortGraceMs = init.abortGraceMs ?? 2000
    this.stopTimeoutMs = init.stopTimeoutMs ?? 10_000
    this.resourceLimits = init.resourceLimits
  }

  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    const ready: Array<Promise<void>> = []
    for (let i = 0; i < this.size; i++) ready.push(this.spawn())
    await Promise.all(ready)
    log('started %d workers x %d intra-op threads', this.size, this.intraOpThreads)
  }

  /**
   * Fail every queued and running job with ShuttingDownError and end the workers. A worker busy in `session.run()`
   * ends when that run returns (terminating a thread inside onnxruntime aborts the whole process); one still busy
   * after `stopTimeoutMs` is terminated anyway.
   */
  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    const err = new ShuttingDownError()
    for (const job of this.queue) this.settle(job, err)
    this.queue = []
    const exits: Array<Promise<void>> = []
    for (const w of [...this.workers, ...this.retiring]) {
      if (w.job !== undefined) this.settle(w.job, err)
      exits.push(this.retire(w))
    }
    this.workers.clear()
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.stopTimeoutMs)
    })
    const outcome = await Promise.race([Promise.allSettled(exits), timeout])
    clearTimeout(timer)
    if (outcome === 'timeout') {
      log.error('workers still busy %d ms after stop; terminating them', this.stopTimeoutMs)
      await Promise.allSettled([...this.retiring].map((w) => w.worker.terminate()))
    }
    this.retiring.clear()
  }

  get stats(): PoolStats {
    let busy = 0
    for (const w of this.workers) if (w.job !== undefined) busy++
    return { workers: this.workers.size, busy, queued: this.queue.length, ...this.counters }
  }

  /** Run one job on a worker. Throws BusyError at once when the queue is full. */
  async run(job: PoolJob, options: AbortOptions = {}): Promise<PoolResult> {
    const transfer: ArrayBuffer[] = []
    const inputs = job.inputs.map((input) => {
      if (Array.isArray(input.data)) return input
      const data = ownedBytes(input.data)
      if (!transfer.includes(data.buffer)) transfer.push(data.buffer)
      return { ...input, data }
    })
    const id = this.nextId++
    const message: ToWorker = {
      type: 'run',
      id,
      sha256: job.sha256,
      path: job.path,
      sizeBytes: job.sizeBytes,
      inputs,
      outputNames: job.outputNames,
    }
    const pending = await this.submit(id, message, transfer, job.sha256, options)
    const reply = pending.reply
    if (reply.type !== 'done') throw new InferenceFailedError('Unexpected worker reply')
    return { outputs: reply.outputs, runMs: reply.runMs, loadMs: reply.loadMs, queueMs: pending.queueMs }
  }

  /** Load a model in a worker and read its signature; throws InvalidModelError if onnxruntime cannot load it. */
  async inspect(path: string, options: AbortOptions = {}): Promise<ModelSignature> {
    const id = this.nextId++
    const { reply } = await this.submit(id, { type: 'inspect', id, path }, [], undefined, options)
    if (reply.type !== 'inspected') throw new InvalidModelError('Unexpected worker reply')
    return reply.signature
  }

  private submit(
    id: number,
    message: ToWorker,
    transfer: ArrayBuffer[],
    sha256: string | undefined,
    options: AbortOptions,
  ): Promise<{ reply: FromWorker; queueMs: number }> {
    if (!this.running) return Promise.reject(new ShuttingDownError())
    if (options.signal?.aborted === true) return Promise.reject(abortError(options.signal))
    if (this.queue.length >= this.maxQueue && this.idleWorker(sha256) === undefined) {
      this.counters.refused++
      return Promise.reject(new BusyError(`Queue full (${this.maxQueue} jobs waiting)`))
    }
    return new Promise((resolve, reject) => {
      const signal = options.signal
      const onAbort = (): void => this.abort(job, abortError(signal!))
      const job: PendingJob = {
        id,
        message,
        transfer,
        enqueuedAt: performance.now(),
        settled: false,
        resolve: (reply) => resolve({ reply, queueMs: (job.startedAt ?? job.enqueuedAt) - job.enqueuedAt }),
        reject,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      }
      if (sha256 !== undefined) job.sha256 = sha256
      signal?.addEventListener('abort', onAbort, { once: true })
      this.queue.push(job)
      this.dispatch()
    })
  }

  private abort(job: PendingJob, err: Error): void {
    if (job.settled) return
    const index = this.queue.indexOf(job)
    if (index >= 0) this.queue.splice(index, 1)
    this.settle(job, err)
    const owner = [...this.workers].find((w) => w.job === job)
    if (owner === undefined) return
    // onnxruntime cannot interrupt a run; give the worker a moment to finish it, then replace the worker so one
    // runaway job cannot hold a slot forever.
    setTimeout(() => {
      if (owner.job === job && !owner.retired) {
        log('worker still busy %d ms after an abort; replacing it', this.abortGraceMs)
        void this.retire(owner)
        if (this.running) void this.spawn()
      }
    }, this.abortGraceMs).unref()
  }

  private settle(job: PendingJob, result: Error | FromWorker): void {
    if (job.settled) return
    job.settled = true
    job.cleanup()
    if (result instanceof Error) {
      this.counters.failed++
      job.reject(result)
    } else {
      this.counters.completed++
      job.resolve(result)
    }
  }

  private idleWorker(sha256: string | undefined): PoolWorker | undefined {
    let any: PoolWorker | undefined
    for (const w of this.workers) {
      if (!w.ready || w.job !== undefined || w.retired) continue
      if (sha256 !== undefined && w.models.has(sha256)) return w
      any ??= w
    }
    return any
  }

  private dispatch(): void {
    while (this.running && this.queue.length > 0) {
      const job = this.queue[0]!
      const worker = this.idleWorker(job.sha256)
      if (worker === undefined) return
      this.queue.shift()
      worker.job = job
      job.startedAt = performance.now()
      if (job.sha256 !== undefined) worker.models.add(job.sha256)
      worker.worker.postMessage(job.message, job.transfer)
    }
  }

  private spawn(): Promise<void> {
    const workerData: WorkerInit = {
      intraOpThreads: this.intraOpThreads,
      sessionBudgetBytes: Math.floor(this.sessionMemoryBytes / this.size),
    }
    const worker = new Worker(WORKER_URL, {
      workerData,
      ...(this.resourceLimits === undefined ? {} : { resourceLimits: this.resourceLimits }),
    })
    const entry: PoolWorker = { worker, ready: false, models: new Set(), retired: false, exited: false }
    this.workers.add(entry)
    return new Promise((resolve) => {
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready') {
          entry.ready = true
          resolve()
          this.dispatch()
          return
        }
        const job = entry.job
        if (job === undefined || job.id !== message.id) return
        entry.job = undefined
        if (message.type === 'failed') {
          this.settle(
            job,
            message.failure === 'INVALID_MODEL'
              ? new InvalidModelError(message.message)
              : new InferenceFailedError(message.message),
          )
        } else {
          this.settle(job, message)
        }
        this.dispatch()
      })
      worker.on('error', (err) => {
        log.error('worker error: %s', err.message)
      })
      worker.on('exit', (code) => {
        resolve()
        entry.exited = true
        this.workers.delete(entry)
        this.retiring.delete(entry)
        if (entry.retired || !this.running) return
        this.counters.crashed++
        log.error('worker exited with code %d; replacing it', code)
        if (entry.job !== undefined) this.settle(entry.job, new WorkerCrashedError(`Worker exited with code ${code}`))
        entry.job = undefined
        // A worker that dies before it is ready (onnxruntime failing to load) would otherwise respawn in a loop.
        if (entry.ready) void this.spawn()
        else setTimeout(() => this.running && void this.spawn(), 1000).unref()
      })
    })
  }

  /** Take a worker out of service and ask it to exit once its current run returns. */
  private retire(entry: PoolWorker): Promise<void> {
    entry.retired = true
    this.workers.delete(entry)
    this.retiring.add(entry)
    const exited = new Promise<void>((resolve) => {
      if (entry.exited) resolve()
      else entry.worker.once('exit', () => resolve())
    })
    entry.worker.postMessage({ type: 'exit' } satisfies ToWorker)
    return exited
  }
}
