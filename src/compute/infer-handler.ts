import { setMaxListeners } from 'node:events'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { Uint8ArrayList } from 'uint8arraylist'
import { AbortedError } from '../errors.js'
import { UnexpectedEndError } from '../net/errors.js'
import { endedMidFrame } from '../net/message-stream.js'
import { runAdmitted } from './admission.js'
import type { ComputeContext } from './compute-context.js'
import { FRAME_OVERHEAD_BYTES } from './constants.js'
import { BusyError, MalformedRequestError, ShuttingDownError, statusFromError, TooLargeError } from './errors.js'
import { createComputeStream } from './frames.js'
import { epochNow, type ProviderTrace, tracedResponseEncoder } from './infer-trace.js'
import { checkJobFits, estimateJob } from './job-memory.js'
import { InferRequest, InferResponse, Status } from './pb/compute.js'
import { linkSignals } from './signals.js'
import { decodeTensor, encodeTensor, tensorBytes } from './tensor.js'
import { peerText } from './text.js'
import { validateInferInputs } from './validate-inputs.js'
import type { NamedTensor } from './worker-messages.js'
import type { WorkerPool } from './worker-pool.js'

const log = logger('parkbench:compute')

/** The limits of `/parkbench/infer/1.0.0`, resolved from `ComputeInit`. */
export interface InferLimits {
  jobDeadlineMs: number
  requestTimeoutMs: number
  maxMessageBytes: number
  maxConcurrentRequests: number
  /** Bytes of request frames decoded and waiting or running at once, all peers (at least one is always taken). */
  maxRequestMemoryBytes: number
  maxPipelinedRequests: number
  streamIdleMs: number
}

/**
 * Serves `/parkbench/infer/1.0.0`: pipelined InferRequests on a stream, each admitted, checked against its model and
 * run in the worker pool, answered as it finishes.
 */
export class InferHandler {
  private activeRequests = 0
  private requestBytes = 0

  constructor(
    private readonly context: ComputeContext,
    private readonly limits: InferLimits,
  ) {}

  /**
   * One inbound infer stream: read requests until the client closes its side, run up to `maxPipelinedRequests` of
   * them at once (reading stops while that many are in flight, which is the backpressure), answer each as it
   * finishes. A frame that is oversized or does not decode is answered with id 0 and ends the stream: past it the
   * framing cannot be trusted (the reader drops whatever else arrives, so an oversized upload cannot overflow the
   * read buffer and reset the stream before the client hears why).
   */
  async handle(stream: Stream, connection: Connection): Promise<void> {
    const { limits, context } = this
    const gone = new AbortController()
    // Each job in flight on the stream listens to it.
    setMaxListeners(Number.POSITIVE_INFINITY, gone.signal)
    const onClose = (): void => gone.abort(new MalformedRequestError('The client went away'))
    stream.addEventListener('close', onClose)
    const messages = createComputeStream(stream, {
      maxDataLength: limits.maxMessageBytes,
      maxBufferSize: limits.maxMessageBytes + FRAME_OVERHEAD_BYTES,
      discardAfterInvalidFrame: true,
    })
    const jobs = new Map<number, { controller: AbortController; done: Promise<void> }>()
    // Answers to a client that has gone away are dropped.
    const send = (response: InferResponse, trace?: ProviderTrace): Promise<void> =>
      messages
        .write(response, trace === undefined ? InferResponse : tracedResponseEncoder(trace), {
          signal: gone.signal,
          timeoutMs: limits.requestTimeoutMs,
        })
        .catch((err: Error) => {
          if (!gone.signal.aborted) throw err
        })
    let slotFreed: (() => void) | undefined
    try {
      let first = true
      while (!gone.signal.aborted) {
        while (jobs.size >= limits.maxPipelinedRequests) {
          await new Promise<void>((resolve) => {
            slotFreed = resolve
          })
        }
        let frame: Uint8ArrayList
        const idle = linkSignals([gone.signal, context.stopping], first ? limits.requestTimeoutMs : limits.streamIdleMs)
        try {
          frame = await messages.readFrame({ signal: idle.signal, label: 'Infer request' })
        } catch (err) {
          // The client closed its side between frames (the normal end), went away, or idled out: stop reading. A
          // request cut short by its end is answered below like one that does not decode.
          if (
            (err instanceof UnexpectedEndError && !endedMidFrame(err)) ||
            gone.signal.aborted ||
            context.stopping.aborted ||
            (err as Error).name === 'DeadlineExceededError'
          ) {
            break
          }
          // Cut short, oversized, or a length prefix that is no varint: the framing is lost, and with it the stream.
          const cause =
            err instanceof UnexpectedEndError
              ? new MalformedRequestError(`The request was cut short: ${(err.cause as Error).message}`)
              : (err as Error)
          await send(errorResponse(cause, 0))
          break
        } finally {
          idle.clear()
        }
        first = false
        // One clock read per request, kept only if the request turns out to ask for a trace.
        const receivedAt = epochNow()
        const decodeStarted = performance.now()
        let request: InferRequest
        try {
          request = InferRequest.decode(frame)
        } catch (err) {
          // The framing held: only this request is lost, answered under its id when the frame still names one.
          const failure = new MalformedRequestError(`Infer request does not decode: ${(err as Error).message}`)
          const id = requestIdOf(frame)
          await send(errorResponse(failure, id ?? 0))
          if (id === undefined) break
          continue
        }
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
        const trace = request.trace ? newTrace(receivedAt, decodeStarted) : undefined
        const done = this.answer(request, frame.byteLength, connection.remotePeer, linked.signal, trace)
          .then((response) => send({ ...response, id }, trace))
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
      await messages.flush()
      stream.removeEventListener('close', onClose)
      if (!gone.signal.aborted) await messages.close({ signal: AbortSignal.timeout(limits.requestTimeoutMs) })
    } catch (err) {
      messages.abort(err as Error)
    } finally {
      stream.removeEventListener('close', onClose)
      if (gone.signal.aborted) log('infer client %p went away', connection.remotePeer)
    }
  }

  /** Run one request to its response; never throws (errors become statuses). */
  private async answer(
    request: InferRequest,
    bytes: number,
    peer: PeerId,
    signal: AbortSignal,
    trace?: ProviderTrace,
  ): Promise<InferResponse> {
    if (!this.context.running) return errorResponse(new ShuttingDownError(), request.id)
    if (this.activeRequests >= this.limits.maxConcurrentRequests) {
      return errorResponse(new BusyError(`${this.activeRequests} requests in progress`), request.id)
    }
    if (this.requestBytes > 0 && this.requestBytes + bytes > this.limits.maxRequestMemoryBytes) {
      return errorResponse(new BusyError(`${this.requestBytes} bytes of requests in progress`), request.id)
    }
    this.activeRequests++
    this.requestBytes += bytes
    try {
      return await this.serveInfer(request, peer, signal, trace)
    } catch (err) {
      return errorResponse(err as Error, request.id)
    } finally {
      this.activeRequests--
      this.requestBytes -= bytes
    }
  }

  private async serveInfer(
    request: InferRequest,
    peer: PeerId,
    gone: AbortSignal,
    trace?: ProviderTrace,
  ): Promise<InferResponse> {
    if (request.modelSha256.byteLength !== 32) throw new MalformedRequestError('model_sha256 must be 32 bytes')
    const { store, pool } = this.context
    const { jobDeadlineMs, maxMessageBytes } = this.limits
    const sha256 = Buffer.from(request.modelSha256).toString('hex')
    const admission = { peer, modelSha256: sha256, kind: 'infer' } as const
    return runAdmitted(this.context.admit, admission, { signal: gone }, async (outcome) => {
      const record = await store.require(sha256)
      const inputs: NamedTensor[] = request.inputs.map((t) => ({ name: t.name, ...decodeTensor(t) }))
      validateInferInputs(record, inputs, request.outputNames)
      // What can be known of its memory before it runs must fit: the rest is watched while it runs.
      checkJobFits(estimateJob(record, inputs, request.outputNames), {
        maxOutputBytes: maxMessageBytes,
        jobBytes: pool.memory.jobBytes,
      })
      const deadlineMs = request.deadlineMs > 0 ? Math.min(request.deadlineMs, jobDeadlineMs) : jobDeadlineMs
      const deadline = linkSignals([gone], deadlineMs)
      let result: Awaited<ReturnType<WorkerPool['run']>>
      // Until now, for a traced request, decodeMs held when decoding started.
      const poolStarted = performance.now()
      if (trace !== undefined) trace.decodeMs = poolStarted - trace.decodeMs
      try {
        result = await pool.run(
          {
            sha256,
            path: store.modelPath(sha256),
            sizeBytes: record.sizeBytes,
            inputs,
            outputNames: request.outputNames,
            maxOutputBytes: maxMessageBytes,
          },
          { signal: deadline.signal },
        )
      } finally {
        deadline.clear()
      }
      outcome.queueMs = result.queueMs
      outcome.runMs = result.runMs
      if (trace !== undefined) {
        trace.queueMs = result.queueMs
        trace.runMs = result.runMs
        trace.transferMs = performance.now() - poolStarted - result.queueMs - result.runMs
      }
      const bytes = result.outputs.reduce((sum, t) => sum + tensorBytes(t) + 64, 0)
      if (bytes > maxMessageBytes)
        throw new TooLargeError(`Outputs are ${bytes} bytes; the limit is ${maxMessageBytes}`)
      return {
        status: Status.OK,
        message: '',
        outputs: result.outputs.map((t) => encodeTensor(t.name, t)),
        timing: { queueMs: result.queueMs, runMs: result.runMs },
        id: request.id,
      }
    })
  }
}

/** A provider trace started when the request's frame was read; `decodeMs` holds the decode's start until it ends. */
function newTrace(receivedAtMs: number, decodeStarted: number): ProviderTrace {
  return { receivedAtMs, decodeMs: decodeStarted, queueMs: 0, transferMs: 0, runMs: 0, encodeMs: 0, answeredAtMs: 0 }
}

function errorResponse(err: Error, id: number): InferResponse {
  return { status: statusFromError(err), message: peerText(err.message), outputs: [], id }
}

/**
 * The `id` (field 5) of an InferRequest frame that does not decode, read from its top-level fields alone (a
 * broken tensor is one length-delimited field, skipped whole), or undefined when the frame names none.
 */
export function requestIdOf(frame: Uint8ArrayList): number | undefined {
  const bytes = frame.subarray()
  let pos = 0
  let id: number | undefined
  const varint = (): bigint => {
    let value = 0n
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (pos >= bytes.length) throw new RangeError('truncated varint')
      const byte = bytes[pos++]!
      value |= BigInt(byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return value
    }
    throw new RangeError('overlong varint')
  }
  try {
    while (pos < bytes.length) {
      const tag = varint()
      const wireType = Number(tag & 7n)
      if (tag >> 3n === 5n && wireType === 0) id = Number(BigInt.asUintN(32, varint()))
      else if (wireType === 0) varint()
      else if (wireType === 1) pos += 8
      else if (wireType === 2) {
        // Not `pos += Number(varint())`: that adds to pos as it was before the length was read.
        const length = Number(varint())
        pos += length
      } else if (wireType === 5) pos += 4
      else break
    }
  } catch {
    // What was read before the damage stands.
  }
  return id
}
