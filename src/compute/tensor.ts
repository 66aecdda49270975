import { Tensor as OrtTensor } from 'onnxruntime-node'
import { InvalidInferenceInputError } from './errors.js'
import { DataType, type Tensor as WireTensor } from './pb/compute.js'
import { quoted } from './text.js'

/**
 * Every element type onnxruntime-node 1.30 can feed and fetch. Its `Tensor.Type` also names int4/uint4, but the
 * native binding refuses them ("Tensor.type is not supported"), and it has no bfloat16: those travel nowhere.
 */
export type TensorDtype =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool'
  | 'string'

/**
 * A tensor as it crosses threads and the wire: numeric data as its little-endian element bytes (ONNX raw_data
 * layout), strings as JS strings. Plain data, so it can be posted to a worker and its buffer transferred.
 */
export interface TensorData {
  dtype: TensorDtype
  dims: number[]
  /** Element bytes for numeric dtypes, one string per element for `string`. */
  data: Uint8Array | string[]
}

/** A tensor the caller hands in: an onnxruntime `Tensor`, or anything with the same three fields. */
export interface TensorLike {
  type: string
  dims: readonly number[]
  data: unknown
}

interface DtypeInfo {
  wire: DataType
  onnx: number
  /** Bytes per element; 0 for strings. */
  bytesPerElement: number
}

/** The one table of dtypes: onnxruntime name, wire enum, ONNX TensorProto.DataType number, element size. */
export const DTYPES: Readonly<Record<TensorDtype, DtypeInfo>> = {
  float32: { wire: DataType.FLOAT, onnx: 1, bytesPerElement: 4 },
  uint8: { wire: DataType.UINT8, onnx: 2, bytesPerElement: 1 },
  int8: { wire: DataType.INT8, onnx: 3, bytesPerElement: 1 },
  uint16: { wire: DataType.UINT16, onnx: 4, bytesPerElement: 2 },
  int16: { wire: DataType.INT16, onnx: 5, bytesPerElement: 2 },
  int32: { wire: DataType.INT32, onnx: 6, bytesPerElement: 4 },
  int64: { wire: DataType.INT64, onnx: 7, bytesPerElement: 8 },
  string: { wire: DataType.STRING, onnx: 8, bytesPerElement: 0 },
  bool: { wire: DataType.BOOL, onnx: 9, bytesPerElement: 1 },
  float16: { wire: DataType.FLOAT16, onnx: 10, bytesPerElement: 2 },
  float64: { wire: DataType.DOUBLE, onnx: 11, bytesPerElement: 8 },
  uint32: { wire: DataType.UINT32, onnx: 12, bytesPerElement: 4 },
  uint64: { wire: DataType.UINT64, onnx: 13, bytesPerElement: 8 },
}

const BY_WIRE = new Map<string, TensorDtype>(Object.entries(DTYPES).map(([k, v]) => [v.wire, k as TensorDtype]))
const BY_ONNX = new Map<number, TensorDtype>(Object.entries(DTYPES).map(([k, v]) => [v.onnx, k as TensorDtype]))

/**
 * Most dims a tensor on the wire may have; ONNX itself has no limit, real models stay far below. (A model's
 * declared inputs and outputs may have at most 16, the offer limit: see `checkOfferable`.)
 */
export const MAX_TENSOR_RANK = 32

/** Wire types onnxruntime-node cannot feed, by name, for a clearer refusal than "unsupported". */
const UNFEEDABLE = new Set<string>([
  DataType.COMPLEX64,
  DataType.COMPLEX128,
  DataType.BFLOAT16,
  DataType.FLOAT8E4M3FN,
  DataType.FLOAT8E4M3FNUZ,
  DataType.FLOAT8E5M2,
  DataType.FLOAT8E5M2FNUZ,
  DataType.UINT4,
  DataType.INT4,
  DataType.FLOAT4E2M1,
])

export function isTensorDtype(value: string): value is TensorDtype {
  return Object.hasOwn(DTYPES, value)
}

export function dtypeFromOnnx(dataType: number): TensorDtype | undefined {
  return BY_ONNX.get(dataType)
}

/**
 * Number of elements in a tensor of shape `dims`, or {@link InvalidInferenceInputError} for a shape no tensor may
 * have (a rank over {@link MAX_TENSOR_RANK}, a dim that is not a safe non-negative integer, more elements than a
 * safe integer counts: no data can match such a shape).
 */
export function elementCount(dims: readonly number[], name = 'tensor'): number {
  if (dims.length > MAX_TENSOR_RANK) {
    throw new InvalidInferenceInputError(`${name}: rank ${dims.length} is over ${MAX_TENSOR_RANK}`)
  }
  let count = 1
  for (const dim of dims) {
    if (!Number.isSafeInteger(dim) || dim < 0) throw new InvalidInferenceInputError(`${name}: bad dimension ${dim}`)
    count *= dim
  }
  // Checked after the loop: a zero dim makes any shape empty.
  if (!Number.isSafeInteger(count)) {
    throw new InvalidInferenceInputError(`${name}: shape [${dims.join(',')}] has more elements than any data can hold`)
  }
  return count
}

/** Bytes the elements of a numeric tensor take on the wire. */
export function byteLengthOf(dtype: TensorDtype, count: number): number {
  return count * DTYPES[dtype].bytesPerElement
}

/** Bytes a tensor counts against the size limits: its element bytes, or the UTF-8 bytes of its strings. */
export function tensorBytes(tensor: TensorData): number {
  if (Array.isArray(tensor.data)) {
    let total = 0
    for (const s of tensor.data) total += Buffer.byteLength(s) + 2
    return total
  }
  return tensor.data.byteLength
}

/**
 * Turn an onnxruntime `Tensor` (or a look-alike) into {@link TensorData} without copying numeric data.
 * Throws {@link InvalidInferenceInputError} for a dtype onnxruntime-node cannot feed or data that does not fit dims.
 */
export function toTensorData(tensor: TensorLike, name = 'tensor'): TensorData {
  if (!isTensorDtype(tensor.type)) throw new InvalidInferenceInputError(`${name}: unsupported dtype ${tensor.type}`)
  const dtype = tensor.type
  const dims = [...tensor.dims]
  const count = elementCount(dims, name)
  if (dtype === 'string') {
    const data = tensor.data
    if (!Array.isArray(data) || data.some((s) => typeof s !== 'string') || data.length !== count) {
      throw new InvalidInferenceInputError(`${name}: string tensor needs ${count} strings`)
    }
    return { dtype, dims, data: data as string[] }
  }
  const data = tensor.data
  if (!ArrayBuffer.isView(data)) throw new InvalidInferenceInputError(`${name}: data is not a typed array`)
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  if (bytes.byteLength !== byteLengthOf(dtype, count)) {
    throw new InvalidInferenceInputError(
      `${name}: ${bytes.byteLength} bytes do not match ${dtype}[${dims.join(',')}] (${byteLengthOf(dtype, count)})`,
    )
  }
  return { dtype, dims, data: bytes }
}

type TypedArrayConstructor = new (
  buffer: ArrayBuffer,
  byteOffset?: number,
  length?: number,
) => ArrayBufferView & { length: number }

const ARRAY_TYPES: Record<Exclude<TensorDtype, 'string'>, TypedArrayConstructor> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
}

/**
 * Bytes that start at offset 0 of a buffer they fill alone: what a typed array needs for alignment and what
 * `postMessage` can transfer. Copies only when `bytes` is a view into a larger buffer (e.g. a received frame).
 */
export function ownedBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) {
    return bytes as Uint8Array<ArrayBuffer>
  }
  // new Uint8Array(view) copies; Buffer#slice would not.
  return new Uint8Array(bytes)
}

/** Build an onnxruntime `Tensor` from {@link TensorData}. */
export function toOrtTensor(tensor: TensorData): OrtTensor {
  if (tensor.dtype === 'string') return new OrtTensor('string', tensor.data as string[], tensor.dims)
  const Ctor = ARRAY_TYPES[tensor.dtype]
  const size = DTYPES[tensor.dtype].bytesPerElement
  const view = tensor.data as Uint8Array
  // A view whose offset suits the element type is used in place (onnxruntime reads a typed array at its offset);
  // only a misaligned one, or one onto a SharedArrayBuffer, is copied.
  const bytes = view.byteOffset % size === 0 && view.buffer instanceof ArrayBuffer ? view : ownedBytes(view)
  const data = new Ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / size)
  return new OrtTensor(tensor.dtype, data as never, tensor.dims)
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true })
const utf8Encoder = new TextEncoder()

/** Encode {@link TensorData} as a wire tensor. Numeric data is referenced, not copied. */
export function encodeTensor(name: string, tensor: TensorData): WireTensor {
  if (tensor.dtype === 'string') {
    return {
      name,
      dataType: DataType.STRING,
      dims: tensor.dims.map(BigInt),
      rawData: new Uint8Array(0),
      stringData: (tensor.data as string[]).map((s) => utf8Encoder.encode(s)),
    }
  }
  return {
    name,
    dataType: DTYPES[tensor.dtype].wire,
    dims: tensor.dims.map(BigInt),
    rawData: tensor.data as Uint8Array<ArrayBuffer>,
    stringData: [],
  }
}

/**
 * A wire tensor's dims (uint64, decoded as bigint so that any value a peer sends decodes) as numbers, checked:
 * at most {@link MAX_TENSOR_RANK}, each a safe integer. Throws {@link InvalidInferenceInputError}.
 */
function wireDims(dims: readonly bigint[], name: string): number[] {
  if (dims.length > MAX_TENSOR_RANK) {
    throw new InvalidInferenceInputError(`${name}: rank ${dims.length} is over ${MAX_TENSOR_RANK}`)
  }
  return dims.map((dim) => {
    if (dim > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new InvalidInferenceInputError(`${name}: dimension ${dim} is larger than any tensor can have`)
    }
    return Number(dim)
  })
}

/**
 * Decode and check one wire tensor: a dtype onnxruntime-node can feed, a sane shape, and data whose size matches
 * dims x dtype. Throws {@link InvalidInferenceInputError}: every problem with one tensor is the problem of its
 * request alone.
 */
export function decodeTensor(wire: WireTensor): TensorData {
  const name = wire.name === '' ? 'tensor' : quoted(wire.name)
  const dtype = wire.dataType == null ? undefined : BY_WIRE.get(wire.dataType)
  if (dtype === undefined) {
    const which = UNFEEDABLE.has(wire.dataType)
      ? `${wire.dataType}, which onnxruntime-node cannot feed`
      : 'missing or unknown'
    throw new InvalidInferenceInputError(`${name}: data_type ${which}`)
  }
  const dims = wireDims(wire.dims, name)
  const count = elementCount(dims, name)
  if (dtype === 'string') {
    if (wire.rawData.byteLength !== 0 || wire.stringData.length !== count) {
      throw new InvalidInferenceInputError(`${name}: string tensor needs ${count} string_data values`)
    }
    try {
      return { dtype, dims, data: wire.stringData.map((b) => utf8Decoder.decode(b)) }
    } catch (err) {
      throw new InvalidInferenceInputError(`${name}: a string is not valid UTF-8`, { cause: err })
    }
  }
  if (wire.stringData.length !== 0) throw new InvalidInferenceInputError(`${name}: string_data on a ${dtype} tensor`)
  const expected = byteLengthOf(dtype, count)
  if (wire.rawData.byteLength !== expected) {
    throw new InvalidInferenceInputError(
      `${name}: ${wire.rawData.byteLength} bytes do not match ${dtype}[${dims.join(',')}] (${expected})`,
    )
  }
  return { dtype, dims, data: wire.rawData }
}
