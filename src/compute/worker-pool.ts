import type { ChildProcess } from 'node:child_process'
import type { Socket } from 'node:net'
import { availableParallelism } from 'node:os'
import type { ResourceLimits } from 'node:worker_threads'
import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { AbortedError, ParkbenchError } from '../errors.js'
import {
  BusyError,
  DeadlineExceededError,
  InferenceFailedError,
  InvalidModelError,
  ShuttingDownError,
  TooLargeError,
  WorkerCrashedError,
} from './errors.js'
import type { ModelSignature } from './inspect-model.js'
import { type MemoryBudget, MemoryWatch, memoryBudget } from './job-memory.js'
import { ChannelReader, type ChannelTensor, channelTensors, writeChannelMessage } from './worker-channel.js'
import type { FromWorker, JobDone, RunJob, ToWorker, WorkerInit } from './worker-messages.js'
import type { PoolJob, PoolResult, PoolStats, WorkerPoolInit } from './worker-pool-types.js'
import { residentBytes, spawnWorkerProcess, workerDataChannel, workerError } from './worker-process.js'

const log = logger('parkbench:compute:pool')

/** Backstops on what a worker may write on its data channel (its own checks refuse oversized outputs first). */
const MAX_CHANNEL_HEADER_BYTES = 256 << 20
const MAX_CHANNEL_PAYLOAD_BYTES = 0xffffffff

type WorkerReply = FromWorker | JobDone

interface PendingJob {
  id: number
  message: ToWorker | RunJob
  sha256?: string
  enqueuedAt: number
  startedAt?: number
  settled: boolean
  resolve(result: WorkerReply): void
  reject(err: Error): void
  cleanup(): void
}

interface PoolWorker {
  process: ChildProcess
  /** The data channel (worker-channel.ts): run jobs out, their outputs back. */
  data: Socket
  ready: boolean
  job?: PendingJob | undefined
  /** The worker's resident memory when the current job's run began (its `running` message). */
  jobBaseBytes?: number | undefined
  /** Why the pool killed it, when it did: its job fails with this instead of WORKER_CRASHED. */
  killedWith?: Error
  /** Models this worker has run (a hint: it probably still holds their sessions). */
  models: Set<string>
  /** Taken out of service by the pool on purpose: its exit is not a crash. */
  retired: boolean
  exited: boolean
}

/** Map an abort reason onto the error the job fails with. */
export function abortError(signal: AbortSignal): Error {
  const reason = signal.reason as Error | undefined
  if (reason instanceof ParkbenchError) return reason
  if (reason?.name === 'TimeoutError') return new DeadlineExceededError(undefined, { cause: reason })
  return new AbortedError(undefined, { cause: reason })
}

/**
 * Runs inference in worker processes so the provider's event loop stays free while models run. A bounded queue
 * refuses work it cannot take (BusyError), every job can be aborted (deadline or caller), and a worker that dies
 * fails only its own job (WorkerCrashedError) and is replaced. Memory is budgeted ({@link MemoryBudget}): each
 * worker is capped by the kernel, and a job that grows past its budget while it runs has its worker killed
 * (TooLargeError) and replaced, its memory returning to the system with the process.
 */
export class WorkerPool {
  readonly size: number
  readonly intraOpThreads: number
  readonly maxQueue: number
  /** How much memory jobs and workers may use. */
  readonly memory: MemoryBudget
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
  private readonly counters = { completed: 0, failed: 0, crashed: 0, refused: 0, outOfMemory: 0 }
  /** Kills a worker whose job grows past the budget (see {@link MemoryWatch}). */
  private readonly memoryWatch: MemoryWatch

  constructor(init: WorkerPoolInit = {}) {
    const cores = availableParallelism()
    this.size = Math.max(1, init.workers ?? Math.floor(cores / 2))
    this.intraOpThreads = Math.max(1, init.intraOpThreads ?? Math.floor(cores / this.size))
    this.maxQueue = Math.max(0, init.maxQueue ?? 64)
    this.sessionMemoryBytes = init.sessionMemoryBytes ?? 1024 * 1024 * 1024
    this.memory = memoryBudget({
      workers: this.size,
      sessionMemoryBytes: this.sessionMemoryBytes,
      ...(init.jobMemoryBytes === undefined ? {} : { jobMemoryBytes: init.jobMemoryBytes }),
    })
    this.memoryWatch = new MemoryWatch(this.memory, (why) => {
      for (const w of this.workers) {
        if (w.job === undefined || w.retired) continue
        const over = why(w.process.pid, w.jobBaseBytes)
        if (over === undefined) continue
        log.error('worker %d: %s; killing it', w.process.pid, over)
        this.counters.outOfMemory++
        this.replace(w, new TooLargeError(`The job used more memory than it may: ${over}`))
      }
    })
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
    log(
      'started %d workers x %d intra-op threads; memory: %d MiB per job, %d MiB per worker, %d MiB in all',
      this.size,
      this.intraOpThreads,
      this.memory.jobBytes >> 20,
      this.memory.workerBytes >> 20,
      this.memory.totalBytes >> 20,
    )
  }

  /**
   * Fail every queued and running job with ShuttingDownError and end the workers. A worker busy in `session.run()`
   * ends when that run returns; one still busy after `stopTimeoutMs` is killed.
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
      log.error('workers still busy %d ms after stop; killing them', this.stopTimeoutMs)
      await Promise.allSettled([...this.retiring].map((w) => this.kill(w)))
    }
    this.retiring.clear()
    this.memoryWatch.busy([...this.workers].some((w) => w.job !== undefined))
  }

  get stats(): PoolStats {
    let busy = 0
    for (const w of this.workers) if (w.job !== undefined) busy++
    return { workers: this.workers.size, busy, queued: this.queue.length, ...this.counters }
  }

  /** Resident memory of the worker processes in all (Linux; undefined elsewhere). */
  residentBytes(): number | undefined {
    if (process.platform !== 'linux') return undefined
    let total = 0
    // A worker just killed may be gone already: it holds nothing.
    for (const w of [...this.workers, ...this.retiring]) total += residentBytes(w.process.pid) ?? 0
    return total
  }

  /** Run one job on a worker. Throws BusyError at once when the queue is full. */
  async run(job: PoolJob, options: AbortOptions = {}): Promise<PoolResult> {
    const id = this.nextId++
    const message: RunJob = {
      type: 'run',
      id,
      sha256: job.sha256,
      path: job.path,
      sizeBytes: job.sizeBytes,
      inputs: job.inputs,
      outputNames: job.outputNames,
      maxOutputBytes: job.maxOutputBytes ?? Number.MAX_SAFE_INTEGER,
    }
    const pending = await this.submit(id, message, job.sha256, options)
    const reply = pending.reply
    if (reply.type !== 'done') throw new InferenceFailedError('Unexpected worker reply')
    return { outputs: reply.outputs, runMs: reply.runMs, loadMs: reply.loadMs, queueMs: pending.queueMs }
  }

  /** Load a model in a worker and read its signature; throws InvalidModelError if onnxruntime cannot load it. */
  async inspect(path: string, options: AbortOptions = {}): Promise<ModelSignature> {
    const id = this.nextId++
    const { reply } = await this.submit(id, { type: 'inspect', id, path }, undefined, options)
    if (reply.type !== 'inspected') throw new InvalidModelError('Unexpected worker reply')
    return reply.signature
  }

  private submit(
    id: number,
    message: ToWorker | RunJob,
    sha256: string | undefined,
    options: AbortOptions,
  ): Promise<{ reply: WorkerReply; queueMs: number }> {
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
    // onnxruntime cannot interrupt a run; give the worker a moment to finish it, then kill it and start another,
    // so that one runaway job holds neither a slot nor a core for ever.
    setTimeout(() => {
      if (owner.job === job && !owner.retired) {
        log('worker still busy %d ms after an abort; replacing it', this.abortGraceMs)
        this.replace(owner, err)
      }
    }, this.abortGraceMs).unref()
  }

  private settle(job: PendingJob, result: Error | WorkerReply): void {
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
      if (worker === undefined) break
      this.queue.shift()
      worker.job = job
      worker.jobBaseBytes = undefined
      job.startedAt = performance.now()
      if (job.sha256 !== undefined) worker.models.add(job.sha256)
      const message = job.message
      if (message.type === 'run') {
        // A worker that dies with the job in flight fails it by its exit (the socket's error is only logged).
        const { inputs, ...header } = message
        writeChannelMessage(worker.data, header, 'inputs', inputs)
      } else {
        worker.process.send(message, (err) => {
          // The worker died with the message in flight: its exit fails the job.
          if (err != null) log('could not send a job to worker %d: %s', worker.process.pid, err.message)
        })
      }
    }
    this.memoryWatch.busy([...this.workers].some((w) => w.job !== undefined))
  }

  /** Kill a worker now, failing its job with `err`, and start another in its place. */
  private replace(entry: PoolWorker, err: Error): void {
    if (entry.retired) return
    entry.killedWith = err
    if (entry.job !== undefined) this.settle(entry.job, err)
    entry.job = undefined
    entry.retired = true
    this.workers.delete(entry)
    this.retiring.add(entry)
    void this.kill(entry)
    if (this.running) void this.spawn()
    this.memoryWatch.busy([...this.workers].some((w) => w.job !== undefined))
  }

  private kill(entry: PoolWorker): Promise<void> {
    const exited = this.exited(entry)
    if (!entry.exited) entry.process.kill('SIGKILL')
    return exited
  }

  private exited(entry: PoolWorker): Promise<void> {
    return new Promise<void>((resolve) => {
      if (entry.exited) resolve()
      else entry.process.once('exit', () => resolve())
    })
  }

  private spawn(): Promise<void> {
    const init: WorkerInit = {
      intraOpThreads: this.intraOpThreads,
      sessionBudgetBytes: Math.floor(this.sessionMemoryBytes / this.size),
    }
    const child = spawnWorkerProcess(init, {
      memoryBytes: this.memory.workerBytes,
      resourceLimits: this.resourceLimits,
    })
    const data = workerDataChannel(child)
    const entry: PoolWorker = {
      process: child,
      data,
      ready: false,
      models: new Set(),
      retired: false,
      exited: false,
    }
    this.workers.add(entry)
    const reader = new ChannelReader({
      // A worker refuses outputs over its job's maxOutputBytes before writing them; this is a backstop.
      maxHeaderBytes: MAX_CHANNEL_HEADER_BYTES,
      maxPayloadBytes: MAX_CHANNEL_PAYLOAD_BYTES,
      onMessage: (header, payload) => {
        const done = header as unknown as JobDone & { outputs: ChannelTensor[] }
        if (done.type !== 'done') return
        let outputs: JobDone['outputs']
        try {
          outputs = channelTensors(done.outputs, payload)
        } catch (err) {
          // A header whose tensors do not fit its payload (or are not a list) is a broken worker, not a crash here.
          brokeChannel((err as Error).message)
          return
        }
        this.onReply(entry, { ...done, outputs })
      },
      onError: (err) => brokeChannel(err.message),
    })
    const brokeChannel = (why: string): void => {
      log.error('worker %d broke its data channel: %s; replacing it', child.pid, why)
      this.replace(entry, new WorkerCrashedError(`Worker broke its data channel: ${why}`))
    }
    data.on('data', (chunk: Buffer) => reader.push(chunk))
    data.on('error', (err) => log('worker %d data channel: %s', child.pid, err.message))
    return new Promise((resolve) => {
      child.on('message', (message: FromWorker) => {
        if (message.type === 'ready') {
          entry.ready = true
          resolve()
          this.dispatch()
          return
        }
        this.onReply(entry, message)
      })
      child.on('error', (err) => {
        log.error('worker error: %s', err.message)
      })
      child.on('exit', (code, signal) => {
        resolve()
        entry.exited = true
        this.workers.delete(entry)
        this.retiring.delete(entry)
        if (entry.retired || !this.running) {
          this.dispatch()
          return
        }
        this.counters.crashed++
        log.error('worker exited with %s; replacing it', signal ?? `code ${code}`)
        if (entry.job !== undefined) {
          this.settle(entry.job, new WorkerCrashedError(`Worker exited with ${signal ?? `code ${code}`}`))
        }
        entry.job = undefined
        // A worker that dies before it is ready (onnxruntime failing to load) would otherwise respawn in a loop.
        if (entry.ready) void this.spawn()
        else setTimeout(() => this.running && void this.spawn(), 1000).unref()
        this.dispatch()
      })
    })
  }

  /** A worker's answer to its current job (from either channel); answers to a job it no longer holds are dropped. */
  private onReply(entry: PoolWorker, message: WorkerReply): void {
    const job = entry.job
    if (job === undefined || !('id' in message) || job.id !== message.id) return
    if (message.type === 'running') {
      entry.jobBaseBytes = message.rssBytes
      return
    }
    entry.job = undefined
    entry.jobBaseBytes = undefined
    if (message.type === 'failed') {
      this.settle(job, workerError(message.failure, message.message, this.memory))
      if (message.failure === 'OUT_OF_MEMORY') {
        // What the failed run left behind goes with the process.
        this.counters.outOfMemory++
        this.replace(entry, new ShuttingDownError())
        return
      }
    } else {
      this.settle(job, message)
    }
    this.dispatch()
  }

  /** Take a worker out of service and ask it to exit once its current run returns. */
  private retire(entry: PoolWorker): Promise<void> {
    entry.retired = true
    this.workers.delete(entry)
    this.retiring.add(entry)
    const exited = this.exited(entry)
    if (!entry.exited && entry.process.connected) {
      entry.process.send({ type: 'exit' } satisfies ToWorker, (err) => {
        if (err != null) entry.process.kill('SIGKILL')
      })
    }
    return exited
  }
}
