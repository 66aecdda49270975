import { setMaxListeners } from 'node:events'
import { open } from 'node:fs/promises'
import type { AbortOptions, Connection, PeerId, Startable, Stream } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { pbStream } from '@libp2p/utils'
import { AbortedError } from '../errors.js'
import { UnexpectedEndError } from '../net/errors.js'
import type { RpcNode } from '../net/rpc.js'
import { type AdmissionPolicy, type Admitted, freeModePolicy, type JobOutcome, refuseAllPolicy } from './admission.js'
import {
  DEFAULT_JOB_DEADLINE_MS,
  DEFAULT_MAX_INBOUND_STREAMS,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_TRANSFER_IDLE_MS,
  DEFAULT_TRANSFER_TIMEOUT_MS,
  FRAME_OVERHEAD_BYTES,
  INFER_PROTOCOL,
  MAX_MODEL_CHUNK_BYTES,
  MODEL_CHUNK_BYTES,
  MODEL_PROTOCOL,
} from './constants.js'
import {
  BusyError,
  errorFromStatus,
  MalformedRequestError,
  ShuttingDownError,
  statusFromError,
  TooLargeError,
} from './errors.js'
import { readFrame } from './frames.js'
import type { ModelRecord } from './model-record.js'
import { ModelStore } from './model-store.js'
import { fetchModelInto, type TransferProgress } from './model-transfer.js'
import { InferRequest, InferResponse, ModelChunk, ModelReply, ModelRequest, Status } from './pb/compute.js'
import { linkSignals } from './signals.js'
import { decodeTensor, encodeTensor, tensorBytes } from './tensor.js'
import { validateInferInputs } from './validate-inputs.js'
import type { NamedTensor } from './worker-messages.js'
import { WorkerPool, type WorkerPoolInit } from './worker-pool.js'

const log = logger('parkbench:compute')

/** The part of a libp2p node the compute service uses; a ParkbenchNode fits as it is. */
export type ComputeComponents = Pick<RpcNode, 'handle' | 'unhandle' | 'dialProtocol'>

export interface ComputeInit extends WorkerPoolInit {
  /** The parkbench data dir; models live in `<dataDir>/models`. */
  dataDir: string
  /** Largest model stored, imported, pushed or fetched. Default 256 MiB. */
  maxModelBytes?: number
  /** Default deadline of one job, queue wait included, in ms. Default 60 s. A request may ask for less. */
  jobDeadlineMs?: number
  /** Time a peer has to deliver its request frame, in ms. Default 30 s. */
  requestTimeoutMs?: number
  /** Largest infer request and response frame, in bytes (all tensors together). Default 64 MiB. */
  maxMessageBytes?: number
  /** Inbound compute streams per connection. Default 32. */
  maxInboundStreams?: number
  /** Requests in flight on one infer stream; the provider stops reading the stream past it. Default 16. */
  maxPipelinedRequests?: number
  /** An infer stream with no new request for this long is closed, in ms. Default 60 s. */
  streamIdleMs?: number
  /**
   * Infer requests decoded and waiting or running at once across all peers; more are answered BUSY. With
   * `maxPipelinedRequests` per stream and `maxInboundStreams` per connection it bounds the memory held by
   * requests. Default: workers + maxQueue.
   */
  maxConcurrentRequests?: number
  /** Model transfers (push or fetch, in or out) at once; more are answered BUSY. Default 4. */
  maxConcurrentTransfers?: number
  /** Time limit of one model transfer, in ms. Default 10 minutes. */
  transferTimeoutMs?: number
  /** Longest wait for the next model chunk, in ms. Default 30 s. */
  transferIdleMs?: number
  /** Serve any peer (LAN, demo, test). Ignored when `admit` is given. Default false: refuse everyone. */
  freeMode?: boolean
  /** The admission hook; see {@link AdmissionPolicy}. */
  admit?: AdmissionPolicy
}

/**
 * Serves `/parkbench/infer/1.0.0` and `/parkbench/model/1.0.0` from a {@link ModelStore} through a
 * {@link WorkerPool}. Every exchange is admitted by the policy hook, bounded in bytes and time, and answered with a
 * status; a hostile or vanished peer costs at most its own stream.
 */
export class ComputeService implements Startable {
  readonly store: ModelStore
  readonly pool: WorkerPool
  private readonly admit: AdmissionPolicy
  private readonly jobDeadlineMs: number
  private readonly requestTimeoutMs: number
  private readonly maxMessageBytes: number
  private readonly maxInboundStreams: number
  private readonly maxConcurrentRequests: number
  private readonly maxPipelinedRequests: number
  private readonly streamIdleMs: number
  private readonly maxConcurrentTransfers: number
  private readonly transferTimeoutMs: number
  private readonly transferIdleMs: number
  private activeRequests = 0
  private activeTransfers = 0
  private running = false
  private readonly inFlight = new Set<Promise<void>>()
  private stopping = new AbortController()

  constructor(
    private readonly components: ComputeComponents,
    init: ComputeInit,
  ) {
    this.pool = new WorkerPool(init)
    this.store = new ModelStore({
      dataDir: init.dataDir,
      ...(init.maxModelBytes === undefined ? {} : { maxModelBytes: init.maxModelBytes }),
      inspect: (path, options) => this.pool.inspect(path, options),
    })
    this.admit = init.admit ?? (init.freeMode === true ? freeModePolicy : refuseAllPolicy)
    this.jobDeadlineMs = init.jobDeadlineMs ?? DEFAULT_JOB_DEADLINE_MS
    this.requestTimeoutMs = init.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    this.maxMessageBytes = init.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
    this.maxInboundStreams = init.maxInboundStreams ?? DEFAULT_MAX_INBOUND_STREAMS
    this.maxConcurrentRequests = init.maxConcurrentRequests ?? this.pool.size + this.pool.maxQueue
    this.maxPipelinedRequests = Math.max(1, init.maxPipelinedRequests ?? 16)
    this.streamIdleMs = init.streamIdleMs ?? 60_000
    this.maxConcurrentTransfers = init.maxConcurrentTransfers ?? 4
    this.transferTimeoutMs = init.transferTimeoutMs ?? DEFAULT_TRANSFER_TIMEOUT_MS
    this.transferIdleMs = init.transferIdleMs ?? DEFAULT_TRANSFER_IDLE_MS
  }

  isStarted(): boolean {
    return this.running
  }

  async start(): Promise<void> {
    if (this.running) return
    this.stopping = new AbortController()
    // Every open infer stream listens to it while reading.
    setMaxListeners(Number.POSITIVE_INFINITY, this.stopping.signal)
    await this.pool.start()
    const options = { maxInboundStreams: this.maxInboundStreams }
    await this.components.handle(
      INFER_PROTOCOL,
      (stream, connection) => this.track(this.onInfer(stream, connection)),
      options,
    )
    await this.components.handle(
      MODEL_PROTOCOL,
      (stream, connection) => this.track(this.onModel(stream, connection)),
      options,
    )
    this.running = true
    log('serving %s and %s', INFER_PROTOCOL, MODEL_PROTOCOL)
  }

  /** Stop taking streams, fail in-flight jobs with SHUTTING_DOWN (answered if the peer is still there), end workers. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    // Open infer streams stop reading; their jobs fail with SHUTTING_DOWN below and are answered.
    this.stopping.abort(new ShuttingDownError())
    await this.components.unhandle(INFER_PROTOCOL).catch(() => {})
    await this.components.unhandle(MODEL_PROTOCOL).catch(() => {})
    await this.pool.stop()
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((resolve) => setTimeout(resolve, 2000).unref()),
    ])
  }

  /** Fetch a model by hash from a peer that holds it into this provider's store (admitted by that peer). */
  async fetchModel(
    peer: Parameters<ComputeComponents['dialProtocol']>[0],
    sha256: string,
    options: AbortOptions & { onProgress?(event: TransferProgress): void } = {},
  ): Promise<ModelRecord> {
    return fetchModelInto(this.components, peer, sha256, this.store, options)
  }

  private track(task: Promise<void>): void {
    this.inFlight.add(task)
    void task.finally(() => this.inFlight.delete(task))
  }

  /**
   * One inbound infer stream: read requests until the client closes its side, run up to `maxPipelinedRequests` of
   * them at once (reading stops while that many are in flight, which is the backpressure), answer each as it
   * finishes. A frame that is oversized or does not decode is answered with id 0 and ends the stream: past it the
   * framing cannot be trusted.
   */
  private async onInfer(stream: Stream, connection: Connection): Promise<void> {
    const gone = new AbortController()
    // Each job in flight on the stream listens to it.
    setMaxListeners(Number.POSITIVE_INFINITY, gone.signal)
    const onClose = (): void => gone.abort(new MalformedRequestError('The client went away'))
    stream.addEventListener('close', onClose)
    const pb = pbStream(stream, {
      maxDataLength: this.maxMessageBytes,
      maxBufferSize: this.maxMessageBytes + FRAME_OVERHEAD_BYTES,
    })
    const jobs = new Map<number, { controller: AbortController; done: Promise<void> }>()
    let writing = Promise.resolve()
    const send = (response: InferResponse): Promise<void> => {
      writing = writing.then(() => {
        if (gone.signal.aborted) return
        return pb.write(response, InferResponse, { signal: AbortSignal.timeout(this.requestTimeoutMs) })
      })
      return writing
    }
    let slotFreed: (() => void) | undefined
    try {
      let first = true
      while (!gone.signal.aborted) {
        while (jobs.size >= this.maxPipelinedRequests) {
          await new Promise<void>((resolve) => {
            slotFreed = resolve
          })
        }
        let request: InferRequest
        const idle = linkSignals([gone.signal, this.stopping.signal], first ? this.requestTimeoutMs : this.streamIdleMs)
        try {
          request = await readFrame(pb, InferRequest, 'Infer request', { signal: idle.signal })
        } catch (err) {
          // The client closed its side (the normal end), went away, or idled out: stop reading.
          if (
            err instanceof UnexpectedEndError ||
            gone.signal.aborted ||
            this.stopping.signal.aborted ||
            (err as Error).name === 'DeadlineExceededError'
          ) {
            break
          }
          // Past a bad frame the framing cannot be trusted: drop whatever else arrives (so an oversized upload
          // cannot overflow the read buffer and reset the stream before the client hears why), answer, end.
          void stream.closeRead().catch(() => {})
          await send(errorResponse(err as Error, 0))
          break
        } finally {
          idle.clear()
        }
        first = false
        if (request.cancel) {
          jobs.get(request.id)?.controller.abort(new AbortedError('Cancelled by the client'))
          continue
        }
        if (jobs.has(request.id)) {
          await send(
            errorResponse(new MalformedRequestError(`Request id ${request.id} is already in flight`), request.id),
          )
          continue
        }
        const controller = new AbortController()
        const id = request.id
        const linked = linkSignals([gone.signal, controller.signal])
        const done = this.answer(request, connection.remotePeer, linked.signal)
          .then((response) => send({ ...response, id }))
          .catch((err: Error) => {
            log('infer answer to %p failed: %s', connection.remotePeer, err.message)
          })
          .finally(() => {
            linked.clear()
            jobs.delete(id)
            slotFreed?.()
            slotFreed = undefined
          })
        jobs.set(id, { controller, done })
      }
      await Promise.all([...jobs.values()].map((j) => j.done))
      await writing
      stream.removeEventListener('close', onClose)
      if (!gone.signal.aborted) await stream.close({ signal: AbortSignal.timeout(this.requestTimeoutMs) })
    } catch (err) {
      stream.abort(err as Error)
    } finally {
      stream.removeEventListener('close', onClose)
      if (gone.signal.aborted) log('infer client %p went away', connection.remotePeer)
    }
  }

  /** Run one request to its response; never throws (errors become statuses). */
  private async answer(request: InferRequest, peer: PeerId, signal: AbortSignal): Promise<InferResponse> {
    if (!this.running) return errorResponse(new ShuttingDownError(), request.id)
    if (this.activeRequests >= this.maxConcurrentRequests) {
      return errorResponse(new BusyError(`${this.activeRequests} requests in progress`), request.id)
    }
    this.activeRequests++
    try {
      return await this.serveInfer(request, peer, signal)
    } catch (err) {
      return errorResponse(err as Error, request.id)
    } finally {
      this.activeRequests--
    }
  }

  private async serveInfer(request: InferRequest, peer: PeerId, gone: AbortSignal): Promise<InferResponse> {
    if (request.modelSha256.byteLength !== 32) throw new MalformedRequestError('model_sha256 must be 32 bytes')
    const sha256 = Buffer.from(request.modelSha256).toString('hex')
    const decision = await this.admit({ peer, modelSha256: sha256, kind: 'infer' }, { signal: gone })
    if (!decision.allowed) throw errorFromStatus(decision.status, decision.reason)
    const outcome: JobOutcome = { status: Status.INTERNAL_ERROR, queueMs: 0, runMs: 0 }
    try {
      const record = await this.store.require(sha256)
      const inputs: NamedTensor[] = request.inputs.map((t) => ({ name: t.name, ...decodeTensor(t) }))
      validateInferInputs(record, inputs, request.outputNames)
      const deadlineMs = request.deadlineMs > 0 ? Math.min(request.deadlineMs, this.jobDeadlineMs) : this.jobDeadlineMs
      const deadline = linkSignals([gone], deadlineMs)
      let result: Awaited<ReturnType<WorkerPool['run']>>
      try {
        result = await this.pool.run(
          {
            sha256,
            path: this.store.modelPath(sha256),
            sizeBytes: record.sizeBytes,
            inputs,
            outputNames: request.outputNames,
          },
          { signal: deadline.signal },
        )
      } finally {
        deadline.clear()
      }
      outcome.queueMs = result.queueMs
      outcome.runMs = result.runMs
      const bytes = result.outputs.reduce((sum, t) => sum + tensorBytes(t) + 64, 0)
      if (bytes > this.maxMessageBytes)
        throw new TooLargeError(`Outputs are ${bytes} bytes; the limit is ${this.maxMessageBytes}`)
      outcome.status = Status.OK
      return {
        status: Status.OK,
        message: '',
        outputs: result.outputs.map((t) => encodeTensor(t.name, t)),
        timing: { queueMs: result.queueMs, runMs: result.runMs },
        id: request.id,
      }
    } catch (err) {
      outcome.status = statusFromError(err)
      throw err
    } finally {
      reportDone(decision, outcome)
    }
  }

  private async onModel(stream: Stream, connection: Connection): Promise<void> {
    const deadline = AbortSignal.timeout(this.transferTimeoutMs)
    const pb = pbStream(stream, {
      maxDataLength: MAX_MODEL_CHUNK_BYTES + 64,
      maxBufferSize: 2 * MAX_MODEL_CHUNK_BYTES + FRAME_OVERHEAD_BYTES,
    })
    const counted = this.activeTransfers < this.maxConcurrentTransfers
    if (counted) this.activeTransfers++
    try {
      let request: ModelRequest | undefined
      let reply: ModelReply
      try {
        if (!this.running) throw new ShuttingDownError()
        if (!counted) throw new BusyError(`${this.activeTransfers} model transfers in progress`)
        const signal = AbortSignal.any([deadline, AbortSignal.timeout(this.requestTimeoutMs)])
        request = await readFrame(pb, ModelRequest, 'Model request', { signal })
        if (request.sha256.byteLength !== 32) throw new MalformedRequestError('sha256 must be 32 bytes')
        if (request.kind === ModelRequest.Kind.PUSH) {
          reply = await this.receivePush(pb, request, connection.remotePeer, deadline)
        } else if (request.kind === ModelRequest.Kind.FETCH) {
          const state = { replied: false }
          try {
            await this.serveFetch(pb, request, connection.remotePeer, deadline, state)
          } catch (err) {
            // Past the OK reply the peer expects chunks: a reply frame now would be misread, so reset instead.
            if (state.replied) throw err
            throw err instanceof Error ? new FetchRefusal(err) : err
          }
          await stream.close({ signal: deadline })
          return
        } else {
          throw new MalformedRequestError('Unknown model request kind')
        }
      } catch (caught) {
        const err = caught instanceof FetchRefusal ? caught.cause : caught
        if (!(caught instanceof FetchRefusal) && request?.kind === ModelRequest.Kind.FETCH) {
          throw err
        }
        reply = { status: statusFromError(err), message: (err as Error).message, sizeBytes: 0, alreadyStored: false }
        log('model transfer with %p failed: %s', connection.remotePeer, (err as Error).message)
      }
      await pb.write(reply, ModelReply, { signal: deadline })
      await stream.close({ signal: deadline })
    } catch (err) {
      stream.abort(err as Error)
    } finally {
      if (counted) this.activeTransfers--
    }
  }

  private async receivePush(
    pb: ReturnType<typeof pbStream>,
    request: ModelRequest,
    peer: PeerId,
    deadline: AbortSignal,
  ): Promise<ModelReply> {
    const sha256 = Buffer.from(request.sha256).toString('hex')
    const decision = await this.admit(
      { peer, modelSha256: sha256, kind: 'model-push', sizeBytes: request.sizeBytes },
      { signal: deadline },
    )
    if (!decision.allowed) throw errorFromStatus(decision.status, decision.reason)
    const outcome: JobOutcome = { status: Status.INTERNAL_ERROR, queueMs: 0, runMs: 0 }
    try {
      const existing = await this.store.get(sha256)
      if (existing !== undefined) {
        outcome.status = Status.OK
        return { status: Status.OK, message: '', sizeBytes: existing.sizeBytes, alreadyStored: true }
      }
      // Checks the size limit before a single model byte is accepted.
      const writer = await this.store.createWriter({
        sha256,
        sizeBytes: request.sizeBytes,
        name: request.name.slice(0, 200) || sha256,
      })
      try {
        await pb.write(
          { status: Status.OK, message: '', sizeBytes: request.sizeBytes, alreadyStored: false },
          ModelReply,
          {
            signal: deadline,
          },
        )
        while (writer.bytesWritten < request.sizeBytes) {
          const signal = AbortSignal.any([deadline, AbortSignal.timeout(this.transferIdleMs)])
          const chunk = await readFrame(pb, ModelChunk, 'Model chunk', { signal })
          if (chunk.data.byteLength === 0) throw new MalformedRequestError('Empty model chunk')
          await writer.write(chunk.data, { signal })
        }
        const record = await writer.commit({ signal: deadline })
        outcome.status = Status.OK
        log('stored pushed model %s from %p', sha256, peer)
        return { status: Status.OK, message: '', sizeBytes: record.sizeBytes, alreadyStored: false }
      } finally {
        await writer.discard()
      }
    } catch (err) {
      outcome.status = statusFromError(err)
      throw err
    } finally {
      reportDone(decision, outcome)
    }
  }

  private async serveFetch(
    pb: ReturnType<typeof pbStream>,
    request: ModelRequest,
    peer: PeerId,
    deadline: AbortSignal,
    state: { replied: boolean },
  ): Promise<void> {
    const sha256 = Buffer.from(request.sha256).toString('hex')
    const decision = await this.admit({ peer, modelSha256: sha256, kind: 'model-fetch' }, { signal: deadline })
    if (!decision.allowed) throw errorFromStatus(decision.status, decision.reason)
    const outcome: JobOutcome = { status: Status.INTERNAL_ERROR, queueMs: 0, runMs: 0 }
    try {
      const record = await this.store.require(sha256)
      const file = await open(this.store.modelPath(sha256), 'r')
      try {
        state.replied = true
        await pb.write(
          { status: Status.OK, message: '', sizeBytes: record.sizeBytes, alreadyStored: false },
          ModelReply,
          {
            signal: deadline,
          },
        )
        const buffer = Buffer.alloc(MODEL_CHUNK_BYTES)
        let sent = 0
        while (sent < record.sizeBytes) {
          const { bytesRead } = await file.read(buffer, 0, Math.min(MODEL_CHUNK_BYTES, record.sizeBytes - sent), sent)
          if (bytesRead === 0) throw new MalformedRequestError('Model file shorter than its record')
          await pb.write({ data: buffer.subarray(0, bytesRead) }, ModelChunk, { signal: deadline })
          sent += bytesRead
        }
      } finally {
        await file.close()
      }
      outcome.status = Status.OK
    } catch (err) {
      outcome.status = statusFromError(err)
      throw err
    } finally {
      reportDone(decision, outcome)
    }
  }
}

function reportDone(decision: Admitted, outcome: JobOutcome): void {
  try {
    decision.onJobDone?.(outcome)
  } catch (err) {
    log.error('onJobDone threw: %s', (err as Error).message)
  }
}

function errorResponse(err: Error, id: number): InferResponse {
  return { status: statusFromError(err), message: err.message, outputs: [], id }
}

/**
 * Create the compute service on a node (a ParkbenchNode fits `components` as it is).
 *
 * @example
 * ```ts
 * const compute = createCompute(node, { dataDir, freeMode: true })
 * await compute.start()
 * await compute.store.add('model.onnx')
 * ```
 */
export function createCompute(components: ComputeComponents, init: ComputeInit): ComputeService {
  return new ComputeService(components, init)
}

/** The js-libp2p service shape: `compute(init)(components)`. */
export function compute(init: ComputeInit): (components: ComputeComponents) => ComputeService {
  return (components) => new ComputeService(components, init)
}

/** A fetch that failed before its OK reply: answered with a status like any other refusal. */
class FetchRefusal extends Error {
  override readonly cause: Error
  constructor(cause: Error) {
    super(cause.message)
    this.cause = cause
  }
}
