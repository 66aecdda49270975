import type { AbortOptions, Connection, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Tensor as OrtTensor } from 'onnxruntime-node'
import { AbortedError } from '../errors.js'
import { PeerUnreachableError, UnexpectedEndError } from '../net/errors.js'
import type { MessageStream } from '../net/message-stream.js'
import { openProtocolStream, type RpcNode } from '../net/rpc.js'
import {
  DEFAULT_JOB_DEADLINE_MS,
  DEFAULT_MAX_MESSAGE_BYTES,
  FRAME_OVERHEAD_BYTES,
  INFER_PROTOCOL,
} from './constants.js'
import { errorFromStatus, MalformedRequestError } from './errors.js'
import { COMPUTE_FRAME_ERRORS, createComputeStream } from './frames.js'
import { encodeInferRequestList, INFER_REQUEST_ENCODER } from './infer-request-encoder.js'
import { assembleTrace, type ClientMarks, epochNow, type InferTrace } from './infer-trace.js'
import { isSha256Hex } from './model-store.js'
import { type InferRequest, InferResponse, Status } from './pb/compute.js'
import { decodeTensor, encodeTensor, type TensorData, type TensorLike, toOrtTensor, toTensorData } from './tensor.js'
import { abortError } from './worker-pool.js'

export interface InferParameters {
  /** The model's sha256: 64 hex digits or 32 bytes. */
  model: string | Uint8Array
  /** Input tensors by name: onnxruntime Tensors, look-alikes (`{ type, dims, data }`) or {@link TensorData}. */
  inputs: Record<string, TensorLike | TensorData>
  /** Outputs wanted; all of the model's when absent. */
  outputNames?: string[]
  /** Ask the provider for a deadline shorter than its own, in ms. */
  deadlineMs?: number
}

export interface InferOptions extends AbortOptions {
  /** Largest response accepted, in bytes. Default 64 MiB. */
  maxResponseBytes?: number
}

export interface InferClientInit extends Pick<InferOptions, 'maxResponseBytes'> {
  /**
   * Ask the provider for its timings on every request and return a per-request breakdown in
   * {@link InferResult.trace}. For benchmarks; off by default, and then nothing is measured.
   */
  trace?: boolean
}

/** An InferRequest as a caller hands it over: the stream's client picks `id`, `cancel` and `trace`. */
export type InferRequestBody = Omit<InferRequest, 'id' | 'cancel' | 'trace'> & { trace?: boolean }

export interface InferTiming {
  /** Provider side: waiting for a worker. */
  queueMs: number
  /** Provider side: `session.run()`. */
  runMs: number
  /** Client side: from opening the stream to the decoded response. */
  totalMs: number
}

export interface InferResult {
  /** Output tensors by name, as onnxruntime would return them locally. */
  outputs: Record<string, OrtTensor>
  timing: InferTiming
  /** Only from a client made with `trace: true`. */
  trace?: InferTrace
}

function modelBytes(model: string | Uint8Array): Uint8Array<ArrayBuffer> {
  if (typeof model !== 'string') {
    if (model.byteLength !== 32) throw new MalformedRequestError('A model sha256 is 32 bytes')
    return new Uint8Array(model)
  }
  const hex = model.toLowerCase()
  if (!isSha256Hex(hex)) throw new MalformedRequestError(`Not a model sha256: ${model}`)
  return Buffer.from(hex, 'hex')
}

function toData(name: string, tensor: TensorLike | TensorData): TensorData {
  if ('dtype' in tensor) return tensor
  return toTensorData(tensor, `Input "${name}"`)
}

/** Encode inference parameters as an InferRequest (without id), e.g. for {@link exchange}. */
export function encodeInferRequest(parameters: InferParameters): InferRequestBody {
  return {
    modelSha256: modelBytes(parameters.model),
    inputs: Object.entries(parameters.inputs).map(([name, tensor]) => encodeTensor(name, toData(name, tensor))),
    outputNames: parameters.outputNames ?? [],
    deadlineMs: parameters.deadlineMs ?? 0,
  }
}

/** @internal Decode an OK response into onnxruntime Tensors; `started` is when the call began. */
export function decodeResult(response: InferResponse, started: number): InferResult {
  const outputs: Record<string, OrtTensor> = {}
  for (const wire of response.outputs) outputs[wire.name] = toOrtTensor(decodeTensor(wire))
  return {
    outputs,
    timing: {
      queueMs: response.timing?.queueMs ?? 0,
      runMs: response.timing?.runMs ?? 0,
      totalMs: performance.now() - started,
    },
  }
}

/** A provider: its peer id, or its multiaddrs (ending in /p2p/<id> to be told apart from other providers). */
export type InferPeer = PeerId | Multiaddr | Multiaddr[]

interface Pending {
  resolve(response: InferResponse): void
  reject(err: Error): void
  /** Set on a traced request: the read loop fills in the response's arrival. */
  marks?: ClientMarks
}

const MAX_REQUEST_ID = 0xffffffff

/**
 * A client for one provider that keeps one `/parkbench/infer/1.0.0` stream open and pipelines requests on it:
 * concurrent calls share the stream, responses are matched by id as jobs finish. Saves the stream set-up (a
 * protocol negotiation round trip and more) on every job; see the benchmark. The stream is opened on first use
 * and again after any failure.
 *
 * @example
 * ```ts
 * const client = createInferClient(node, providerAddr)
 * const results = await Promise.all(images.map((x) => client.infer({ model, inputs: { x } })))
 * await client.close()
 * ```
 */
export class InferClient {
  private messages: MessageStream | undefined
  private opening: Promise<void> | undefined
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private readonly maxResponseBytes: number
  private readonly trace: boolean
  /** The relayed connection the stream runs on, when it does: a direct one to the same peer replaces it. */
  private relayedConnection: Connection | undefined
  /** Streams given up for a direct connection: their read loops end without failing anything. */
  private readonly retired = new WeakSet<MessageStream>()

  constructor(
    private readonly node: Pick<RpcNode, 'dialProtocol'>,
    private readonly peer: InferPeer,
    options: InferClientInit = {},
  ) {
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_MESSAGE_BYTES
    this.trace = options.trace === true
  }

  /** Run one inference; see {@link infer}. */
  async infer(parameters: InferParameters, options: AbortOptions = {}): Promise<InferResult> {
    const started = performance.now()
    if (!this.trace) return decodeResult(await this.request(encodeInferRequest(parameters), options), started)
    const marks: ClientMarks = { started, encodeMs: 0, encodedAt: 0, frameAt: 0, frameDecodeMs: 0 }
    const body = encodeInferRequest(parameters)
    marks.encodeMs = performance.now() - started
    const response = await this.request({ ...body, trace: true }, options, marks)
    const decodeStarted = performance.now()
    const result = decodeResult(response, started)
    result.trace = assembleTrace(marks, response.trace, performance.now() - decodeStarted)
    return result
  }

  /**
   * Send one encoded request on the shared stream; resolves with the OK response or throws its typed error.
   * `marks` (internal) collects a traced request's client-side times.
   */
  async request(request: InferRequestBody, options: AbortOptions = {}, marks?: ClientMarks): Promise<InferResponse> {
    const signal = options.signal ?? AbortSignal.timeout(DEFAULT_JOB_DEADLINE_MS + 30_000)
    signal.throwIfAborted()
    await this.open(signal)
    const id = this.nextId
    this.nextId = this.nextId >= MAX_REQUEST_ID ? 1 : this.nextId + 1
    const answered = new Promise<InferResponse>((resolve, reject) =>
      this.pending.set(id, marks === undefined ? { resolve, reject } : { resolve, reject, marks }),
    )
    answered.catch(() => {})
    const onAbort = (): void => {
      const pending = this.pending.get(id)
      if (pending === undefined) return
      this.pending.delete(id)
      pending.reject(abortError(signal))
      // Tell the provider, so the job stops holding a worker; the stream stays up for the other requests.
      this.write({ ...EMPTY_REQUEST, id, cancel: true }).catch(() => {})
    }
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      const written = this.write({ ...request, trace: request.trace === true, id, cancel: false }, marks)
      written.catch((err: Error) => {
        // A write that fails on a dead stream will never be answered: fail what is waiting on it.
        if (this.messages === undefined || this.messages.stream.status !== 'open')
          this.abort(new UnexpectedEndError(undefined, { cause: err }))
      })
      // A provider may answer before it has read everything (TOO_LARGE): listen while writing.
      const response = await Promise.race([
        answered,
        written.then(
          () => answered,
          () => answered,
        ),
      ])
      if (response.status !== Status.OK) throw errorFromStatus(response.status, response.message)
      return response
    } finally {
      signal.removeEventListener('abort', onAbort)
      this.pending.delete(id)
    }
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size
  }

  /** Let in-flight requests finish, then close the stream. */
  async close(options: AbortOptions = {}): Promise<void> {
    const messages = this.messages
    if (messages === undefined) return
    await messages.close(options).catch((err: Error) => messages.abort(err))
  }

  /** Drop the stream at once; in-flight requests fail and the provider aborts their jobs. */
  abort(err: Error = new AbortedError()): void {
    this.messages?.abort(err)
    this.fail(err)
  }

  private async open(signal: AbortSignal): Promise<void> {
    const current = this.messages?.stream
    if (current !== undefined && current.status === 'open' && current.writeStatus === 'writable') {
      if (!this.directConnectionAppeared()) return
      // A hole punch gave a direct connection to the provider: with nothing in flight, end the relayed stream
      // (the provider finishes it; its read loop ends quietly) and open the next one, which libp2p puts on the
      // direct connection. Billing runs on the lease's own stream, so no tick is lost or counted twice.
      const old = this.messages!
      this.retired.add(old)
      this.messages = undefined
      this.relayedConnection = undefined
      void old.close().catch((err: Error) => old.abort(err))
    }
    this.opening ??= (async () => {
      let stream: Stream
      try {
        stream = await openProtocolStream(this.node, this.peer, INFER_PROTOCOL, { signal })
      } catch (err) {
        throw new PeerUnreachableError(`Could not open ${INFER_PROTOCOL}: ${(err as Error).message}`, { cause: err })
      }
      const messages = createComputeStream(stream, {
        maxDataLength: this.maxResponseBytes,
        maxBufferSize: this.maxResponseBytes + FRAME_OVERHEAD_BYTES,
      })
      this.messages = messages
      this.relayedConnection = relayedConnectionOf(this.node, stream)
      void this.readLoop(messages)
    })().finally(() => {
      this.opening = undefined
    })
    await this.opening
  }

  private async readLoop(messages: MessageStream): Promise<void> {
    // No signal, and no abort on the stream's 'close' event: a response that arrived before a reset must still be
    // read (a provider answers an oversized frame and then ends the stream). The read itself fails once the stream
    // has ended and nothing is left to read.
    const { stream } = messages
    try {
      // A stream refused at once (e.g. over the provider's stream limit) may be gone before anything listens.
      if (stream.status !== 'open') throw new UnexpectedEndError()
      while (true) {
        const response = this.trace
          ? await this.readTraced(messages)
          : await messages.read(InferResponse, { label: 'Infer response' })
        if (response.id === 0) {
          // A stream-level failure (our frame was oversized or undecodable): every request on it is lost.
          throw errorFromStatus(response.status, response.message)
        }
        const pending = this.pending.get(response.id)
        this.pending.delete(response.id)
        pending?.resolve(response)
      }
    } catch (err) {
      if (stream.status === 'open') messages.abort(err as Error)
      if (this.retired.has(messages)) return
      if (this.messages === messages) this.messages = undefined
      this.fail(err instanceof Error ? err : new UnexpectedEndError())
    }
  }

  /** Whether the stream is on a relayed connection and a direct one to that peer is open now, with nothing pending. */
  private directConnectionAppeared(): boolean {
    const relayed = this.relayedConnection
    if (relayed === undefined || this.pending.size > 0) return false
    const connections = (this.node as Partial<Pick<ConnectionsNode, 'getConnections'>>).getConnections
    return (
      connections
        ?.call(this.node, relayed.remotePeer)
        .some((c) => c.status === 'open' && c.limits == null && !c.remoteAddr.toString().includes('/p2p-circuit')) ===
      true
    )
  }

  /** Read one response and note, on its pending request, when it arrived and how long its frame took to decode. */
  private async readTraced(messages: MessageStream): Promise<InferResponse> {
    const frame = await messages.readFrame({ label: 'Infer response' })
    const frameAt = epochNow()
    const started = performance.now()
    let response: InferResponse
    try {
      response = InferResponse.decode(frame)
    } catch (err) {
      throw COMPUTE_FRAME_ERRORS.malformed('Infer response', err as Error)
    }
    const marks = this.pending.get(response.id)?.marks
    if (marks !== undefined) {
      marks.frameAt = frameAt
      marks.frameDecodeMs = performance.now() - started
    }
    return response
  }

  private fail(err: Error): void {
    for (const pending of this.pending.values()) pending.reject(err)
    this.pending.clear()
  }

  /**
   * Queue one frame on the shared stream. No per-request signal: once queued, a request goes out whole whatever
   * becomes of it (its caller stops waiting at once, and a cancel follows it), so that one request given up cannot
   * fail the stream's writer for the others. A write fails only with the stream.
   */
  private write(request: InferRequest, marks?: ClientMarks): Promise<void> {
    const messages = this.messages
    if (messages === undefined) return Promise.reject(new UnexpectedEndError())
    if (marks === undefined) return messages.write(request, INFER_REQUEST_ENCODER)
    // Traced: the protobuf encode (done in the write's turn) counts as the client's encode.
    return messages.write(request, {
      encode: (message: InferRequest) => {
        const started = performance.now()
        const bytes = encodeInferRequestList(message)
        marks.encodeMs += performance.now() - started
        marks.encodedAt = epochNow()
        return bytes
      },
    })
  }
}

/** A libp2p node's connection list, when the node given to a client has one (a libp2p node does). */
interface ConnectionsNode {
  getConnections(peer?: PeerId): Connection[]
}

/** The relayed (limited) connection `stream` runs on, if it is on one; undefined otherwise or when unknown. */
function relayedConnectionOf(node: object, stream: Stream): Connection | undefined {
  const connections = (node as Partial<ConnectionsNode>).getConnections
  if (connections == null) return undefined
  const connection = connections.call(node).find((c) => c.streams.includes(stream))
  if (connection == null) return undefined
  return connection.limits != null || connection.remoteAddr.toString().includes('/p2p-circuit') ? connection : undefined
}

const EMPTY_REQUEST: InferRequest = {
  modelSha256: new Uint8Array(0),
  inputs: [],
  outputNames: [],
  deadlineMs: 0,
  id: 0,
  cancel: false,
  trace: false,
}

/** Create a pipelining {@link InferClient} for one provider. */
export function createInferClient(
  node: Pick<RpcNode, 'dialProtocol'>,
  peer: InferPeer,
  options: InferClientInit = {},
): InferClient {
  return new InferClient(node, peer, options)
}
