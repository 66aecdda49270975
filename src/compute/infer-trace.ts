import { encodeVarint } from '../net/frame-reader.js'
import type { MessageEncoder } from '../net/message-stream.js'
import { InferResponse, Trace } from './pb/compute.js'

/**
 * A per-request breakdown of one traced inference (perf_analyzer's split), in ms. Asked for with
 * `createInferClient(node, peer, { trace: true })`; the provider's part comes back in `InferResponse.trace`.
 * `sendMs` and `receiveMs` compare the two processes' clocks, so they mean something only when client and
 * provider share a host (loopback benchmarks); elsewhere they carry the clock offset.
 */
export interface InferTrace {
  /** Client: parameters to InferRequest, and its protobuf encode. */
  clientEncodeMs: number
  /** From the encoded request handed to the stream to the provider having read all of it (noise, yamux, TCP). */
  sendMs: number
  /** Provider: protobuf decode, tensor checks, admission and input validation. */
  providerDecodeMs: number
  /** Provider: waiting for a worker. */
  queueMs: number
  /** Provider: inputs to the worker process and outputs back, outside session.run(). */
  transferMs: number
  /** Provider: session.run(). */
  runMs: number
  /** Provider: protobuf encode of the response. */
  providerEncodeMs: number
  /** From the provider handing the response to its stream to the client having read all of it. */
  receiveMs: number
  /** Client: protobuf decode of the response and its tensors to onnxruntime Tensors. */
  clientDecodeMs: number
  /** Client: the whole call. */
  totalMs: number
}

/** A clock both processes on one host agree on, to well under a millisecond: ms since the epoch, sub-ms precision. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now()
}

/** The provider's marks for one traced request, filled in as it goes. */
export type ProviderTrace = Trace

/** Field 6 of InferResponse, length-delimited: (6 << 3) | 2. */
const TRACE_TAG = 0x32

/**
 * An InferResponse encoder that times the response's own encode and appends `trace` (field 6) after it: a protobuf
 * message may be written as concatenated parts, so the trace can hold the time it took to encode the rest.
 */
export function tracedResponseEncoder(trace: ProviderTrace): MessageEncoder<InferResponse> {
  return {
    encode(response: InferResponse): Uint8Array {
      const started = performance.now()
      const body = InferResponse.encode(response)
      trace.encodeMs = performance.now() - started
      trace.answeredAtMs = epochNow()
      const tail = Trace.encode(trace)
      const length = encodeVarint(tail.byteLength)
      const out = new Uint8Array(body.byteLength + 1 + length.byteLength + tail.byteLength)
      out.set(body, 0)
      out[body.byteLength] = TRACE_TAG
      out.set(length, body.byteLength + 1)
      out.set(tail, body.byteLength + 1 + length.byteLength)
      return out
    },
  }
}

/** The client's marks for one traced request. */
export interface ClientMarks {
  started: number
  encodeMs: number
  /** epochNow() once the request was encoded and about to be handed to the stream. */
  encodedAt: number
  /** epochNow() once the whole response frame had been read. */
  frameAt: number
  /** Protobuf decode of the response frame. */
  frameDecodeMs: number
}

/** Put the client's marks and the provider's trace together. */
export function assembleTrace(marks: ClientMarks, provider: Trace | undefined, tensorDecodeMs: number): InferTrace {
  const p = provider ?? {
    receivedAtMs: 0,
    decodeMs: 0,
    queueMs: 0,
    transferMs: 0,
    runMs: 0,
    encodeMs: 0,
    answeredAtMs: 0,
  }
  const known = provider !== undefined
  return {
    clientEncodeMs: marks.encodeMs,
    sendMs: known ? p.receivedAtMs - marks.encodedAt : Number.NaN,
    providerDecodeMs: p.decodeMs,
    queueMs: p.queueMs,
    transferMs: p.transferMs,
    runMs: p.runMs,
    providerEncodeMs: p.encodeMs,
    receiveMs: known ? marks.frameAt - p.answeredAtMs : Number.NaN,
    clientDecodeMs: marks.frameDecodeMs + tensorDecodeMs,
    totalMs: performance.now() - marks.started,
  }
}
