import { Uint8ArrayList } from 'uint8arraylist'
import { encodeVarint } from '../net/frame-reader.js'
import type { MessageEncoder } from '../net/message-stream.js'
import { InferRequest, Tensor } from './pb/compute.js'

/** Tags of the length-delimited fields written by hand: InferRequest.inputs (2) and Tensor.raw_data (4). */
const INPUTS_TAG = Uint8Array.of((2 << 3) | 2)
const RAW_DATA_TAG = Uint8Array.of((4 << 3) | 2)

/** encodeVarint's bytes are a plain Uint8Array of their own. */
const varint = (value: number): Uint8Array<ArrayBuffer> => encodeVarint(value) as Uint8Array<ArrayBuffer>

/**
 * Encode an InferRequest with every tensor's `raw_data` referenced, not copied: the frame is a list of small
 * protobuf pieces and the caller's own tensor bytes. The message is the one `InferRequest.encode` writes, only its
 * fields in another order (the request's scalar fields first, then each input with `raw_data` last), which any
 * protobuf parser reads the same: fields may come in any order, and repeated ones keep theirs. Saves the copy of
 * every input into one contiguous buffer (602 KB per SqueezeNet request) and the garbage it leaves.
 */
export function encodeInferRequestList(request: InferRequest): Uint8ArrayList {
  const out = new Uint8ArrayList(InferRequest.encode({ ...request, inputs: [] }))
  for (const tensor of request.inputs) {
    const raw = tensor.rawData
    const head = Tensor.encode({ ...tensor, rawData: new Uint8Array(0) })
    const rawLength = raw.byteLength > 0 ? varint(raw.byteLength) : undefined
    const tensorLength =
      head.byteLength + (rawLength === undefined ? 0 : RAW_DATA_TAG.byteLength + rawLength.byteLength + raw.byteLength)
    out.append(INPUTS_TAG, varint(tensorLength), head)
    if (rawLength !== undefined) out.append(RAW_DATA_TAG, rawLength, raw)
  }
  return out
}

/** {@link encodeInferRequestList} as the message stream's encoder. */
export const INFER_REQUEST_ENCODER: MessageEncoder<InferRequest> = { encode: encodeInferRequestList }
