import type { AbortOptions, PeerId, Stream } from '@libp2p/interface'
import { pbStream } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Tensor as OrtTensor } from 'onnxruntime-node'
import { PeerUnreachableError } from '../net/errors.js'
import type { RpcNode } from '../net/rpc.js'
import {
  DEFAULT_JOB_DEADLINE_MS,
  DEFAULT_MAX_MESSAGE_BYTES,
  FRAME_OVERHEAD_BYTES,
  INFER_PROTOCOL,
} from './constants.js'
import { errorFromStatus, MalformedRequestError } from './errors.js'
import { readFrame } from './frames.js'
import { isSha256Hex } from './model-store.js'
import { InferRequest, InferResponse, Status } from './pb/compute.js'
import { decodeTensor, encodeTensor, type TensorData, type TensorLike, toOrtTensor, toTensorData } from './tensor.js'

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

/**
 * Run one inference on a provider over `/parkbench/infer/1.0.0` (one stream per job). Returns the outputs as
 * onnxruntime Tensors; a non-OK status throws its typed error (BusyError, NotAuthorizedError, ModelNotFoundError,
 * InvalidInferenceInputError, TooLargeError, DeadlineExceededError, WorkerCrashedError, InferenceFailedError...).
 *
 * @example
 * ```ts
 * const { outputs } = await infer(node, providerAddr, {
 *   model: sha256Hex,
 *   inputs: { x: new Tensor('float32', new Float32Array([1, 2]), [1, 2]) },
 * })
 * ```
 */
export async function infer(
  node: Pick<RpcNode, 'dialProtocol'>,
  peer: PeerId | Multiaddr | Multiaddr[],
  parameters: InferParameters,
  options: InferOptions = {},
): Promise<InferResult> {
  const started = performance.now()
  const request: InferRequest = {
    modelSha256: modelBytes(parameters.model),
    inputs: Object.entries(parameters.inputs).map(([name, tensor]) => encodeTensor(name, toData(name, tensor))),
    outputNames: parameters.outputNames ?? [],
    deadlineMs: parameters.deadlineMs ?? 0,
  }
  const response = await exchange(node, peer, request, options)
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

/**
 * Send one encoded InferRequest and return the OK response, or throw the status's typed error. The response is
 * read while the request is still being written, so a provider that refuses early (TOO_LARGE, BUSY) is heard at
 * once instead of after a large upload.
 */
export async function exchange(
  node: Pick<RpcNode, 'dialProtocol'>,
  peer: PeerId | Multiaddr | Multiaddr[],
  request: InferRequest,
  options: InferOptions = {},
): Promise<InferResponse> {
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_MESSAGE_BYTES
  const signal = options.signal ?? AbortSignal.timeout(DEFAULT_JOB_DEADLINE_MS + 30_000)
  let stream: Stream
  try {
    stream = await node.dialProtocol(peer, INFER_PROTOCOL, { signal })
  } catch (err) {
    throw new PeerUnreachableError(`Could not open ${INFER_PROTOCOL}: ${(err as Error).message}`, { cause: err })
  }
  try {
    const pb = pbStream(stream, {
      maxDataLength: maxResponseBytes,
      maxBufferSize: maxResponseBytes + FRAME_OVERHEAD_BYTES,
    })
    const reading = readFrame(pb, InferResponse, 'Infer response', { signal })
    reading.catch(() => {})
    const writing = pb.write(request, InferRequest, { signal })
    writing.catch(() => {})
    const response = await Promise.race([
      reading,
      writing.then(
        () => reading,
        () => reading,
      ),
    ])
    if (response.status !== Status.OK) throw errorFromStatus(response.status, response.message)
    await writing
    await stream.close({ signal })
    return response
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}
