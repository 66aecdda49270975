import { floatToHalf, halfToFloat } from '../compute/float16.js'
import { byteLengthOf, elementCount, type TensorData, type TensorDtype } from '../compute/tensor.js'
import { InvalidOipRequestError, InvalidTensorError } from './errors.js'

/** The Open Inference Protocol's tensor datatypes, each onto the project's dtype (BYTES elements are UTF-8 strings). */
export const OIP_DATATYPES = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
} as const satisfies Record<string, TensorDtype>

export type OipDatatype = keyof typeof OIP_DATATYPES

const BY_DTYPE = new Map<string, OipDatatype>(
  Object.entries(OIP_DATATYPES).map(([oip, dtype]) => [dtype, oip as OipDatatype]),
)

/** The OIP datatype of a project dtype (every one has one). */
export function oipDatatype(dtype: string): OipDatatype {
  const oip = BY_DTYPE.get(dtype)
  if (oip == null) throw new InvalidTensorError(`dtype ${dtype} has no Open Inference Protocol datatype`)
  return oip
}

/** Most inputs or requested outputs one request may name. */
export const MAX_TENSORS_PER_REQUEST = 64
const MAX_NAME_LENGTH = 256

/** An inference request as the gateway runs it. */
export interface ParsedInferRequest {
  id?: string
  inputs: Record<string, TensorData>
  /** The outputs asked for (empty: all), each with whether it goes back as binary. */
  outputs: Array<{ name: string; binary: boolean }>
  /** Request-level `binary_data_output`: outputs not listed (or all) go back as binary. */
  binaryOutput: boolean
}

type Json = Record<string, unknown>

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** Row-major values of flat or nested data; flat data (the common case) is returned as it is, without copying. */
function flatten(data: unknown[]): unknown[] {
  if (!data.some(Array.isArray)) return data
  const out: unknown[] = []
  const walk = (value: unknown, depth: number): void => {
    if (!Array.isArray(value)) {
      out.push(value)
      return
    }
    if (depth > 64) throw new InvalidOipRequestError('Tensor data is nested too deeply')
    for (const v of value) walk(v, depth + 1)
  }
  walk(data, 0)
  return out
}

/**
 * Parse an OIP inference request: the JSON object, then (when `headerLength` is given, from
 * `Inference-Header-Content-Length`) the binary section holding the data of every input whose `parameters` carry
 * `binary_data_size`, in input order. Throws {@link InvalidOipRequestError} or {@link InvalidTensorError}.
 */
export function parseInferRequest(body: Uint8Array, headerLength?: number): ParsedInferRequest {
  if (headerLength != null && (headerLength < 0 || headerLength > body.byteLength)) {
    throw new InvalidOipRequestError(
      `Inference-Header-Content-Length ${headerLength} is outside the body (${body.byteLength} bytes)`,
    )
  }
  const jsonEnd = headerLength ?? body.byteLength
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(body.buffer, body.byteOffset, jsonEnd).toString('utf8'))
  } catch (err) {
    throw new InvalidOipRequestError(`The request is not JSON: ${(err as Error).message}`, { cause: err })
  }
  if (!isObject(json)) throw new InvalidOipRequestError('The request must be a JSON object')
  if (!Array.isArray(json.inputs) || json.inputs.length === 0) {
    throw new InvalidOipRequestError('The request needs "inputs": a non-empty array of tensors')
  }
  if (json.inputs.length > MAX_TENSORS_PER_REQUEST) {
    throw new InvalidOipRequestError(`At most ${MAX_TENSORS_PER_REQUEST} inputs per request`)
  }
  const binary = body.subarray(jsonEnd)
  let offset = 0
  const inputs: Record<string, TensorData> = {}
  for (const raw of json.inputs) {
    if (!isObject(raw)) throw new InvalidOipRequestError('Each input must be an object')
    const { name, dtype, dims } = tensorHead(raw)
    if (Object.hasOwn(inputs, name)) throw new InvalidTensorError(`input "${name}" is given twice`, name)
    const size = isObject(raw.parameters) ? raw.parameters.binary_data_size : undefined
    if (size != null) {
      if (headerLength == null) {
        throw new InvalidOipRequestError(
          `input "${name}" has binary_data_size but the request has no Inference-Header-Content-Length`,
        )
      }
      if (!Number.isSafeInteger(size) || (size as number) < 0) {
        throw new InvalidTensorError(`input "${name}": binary_data_size must be a whole number`, name)
      }
      const end = offset + (size as number)
      if (end > binary.byteLength) {
        throw new InvalidTensorError(`input "${name}": binary data runs past the end of the body`, name)
      }
      inputs[name] = tensorFromBinary(name, dtype, dims, binary.subarray(offset, end))
      offset = end
    } else {
      inputs[name] = tensorFromJson(name, dtype, dims, raw.data)
    }
  }
  if (offset !== binary.byteLength) {
    throw new InvalidOipRequestError(
      `The binary section holds ${binary.byteLength} bytes but the inputs' binary_data_size add up to ${offset}`,
    )
  }
  const params = isObject(json.parameters) ? json.parameters : {}
  const binaryOutput = params.binary_data_output === true
  const outputs: ParsedInferRequest['outputs'] = []
  if (json.outputs != null) {
    if (!Array.isArray(json.outputs) || json.outputs.length > MAX_TENSORS_PER_REQUEST) {
      throw new InvalidOipRequestError(`"outputs" must be an array of at most ${MAX_TENSORS_PER_REQUEST} objects`)
    }
    for (const raw of json.outputs) {
      if (!isObject(raw) || typeof raw.name !== 'string' || raw.name === '' || raw.name.length > MAX_NAME_LENGTH) {
        throw new InvalidOipRequestError('Each requested output must be an object with a "name"')
      }
      const flag = isObject(raw.parameters) ? raw.parameters.binary_data : undefined
      outputs.push({ name: raw.name, binary: typeof flag === 'boolean' ? flag : binaryOutput })
    }
  }
  return { ...(typeof json.id === 'string' ? { id: json.id } : {}), inputs, outputs, binaryOutput }
}

function tensorHead(raw: Json): { name: string; dtype: TensorDtype; dims: number[] } {
  const name = raw.name
  if (typeof name !== 'string' || name === '' || name.length > MAX_NAME_LENGTH) {
    throw new InvalidTensorError(`Each input needs a "name" (1-${MAX_NAME_LENGTH} characters)`)
  }
  const datatype = raw.datatype
  if (typeof datatype !== 'string' || !Object.hasOwn(OIP_DATATYPES, datatype)) {
    throw new InvalidTensorError(
      `input "${name}": datatype ${JSON.stringify(datatype)} is not one of ${Object.keys(OIP_DATATYPES).join(', ')}`,
      name,
    )
  }
  const shape = raw.shape
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new InvalidTensorError(`input "${name}": "shape" must be an array of whole numbers`, name)
  }
  try {
    elementCount(shape as number[], `input "${name}"`)
  } catch (err) {
    throw new InvalidTensorError((err as Error).message, name, { cause: err })
  }
  return { name, dtype: OIP_DATATYPES[datatype as OipDatatype], dims: shape as number[] }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Binary data in the extension's layout: little-endian elements; BYTES as a 4-byte length then the bytes, each. */
export function tensorFromBinary(name: string, dtype: TensorDtype, dims: number[], bytes: Uint8Array): TensorData {
  const count = elementCount(dims)
  if (dtype !== 'string') {
    const expected = byteLengthOf(dtype, count)
    if (bytes.byteLength !== expected) {
      throw new InvalidTensorError(
        `input "${name}": ${bytes.byteLength} bytes of binary data for ${oipDatatype(dtype)}[${dims.join(',')}], which takes ${expected}`,
        name,
      )
    }
    return { dtype, dims, data: bytes }
  }
  const strings: string[] = []
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let at = 0
  while (at < bytes.byteLength) {
    if (at + 4 > bytes.byteLength) throw new InvalidTensorError(`input "${name}": a BYTES length is cut off`, name)
    const length = view.getUint32(at, true)
    at += 4
    if (at + length > bytes.byteLength)
      throw new InvalidTensorError(`input "${name}": a BYTES element is cut off`, name)
    try {
      strings.push(utf8.decode(bytes.subarray(at, at + length)))
    } catch (err) {
      throw new InvalidTensorError(`input "${name}": BYTES elements must be UTF-8 text here`, name, { cause: err })
    }
    at += length
  }
  if (strings.length !== count) {
    throw new InvalidTensorError(
      `input "${name}": ${strings.length} BYTES elements for shape [${dims.join(',')}]`,
      name,
    )
  }
  return { dtype, dims, data: strings }
}

/** JSON data: a flat (or nested) row-major array. int64/uint64 take numbers or decimal strings (exact past 2^53). */
export function tensorFromJson(name: string, dtype: TensorDtype, dims: number[], data: unknown): TensorData {
  if (!Array.isArray(data)) throw new InvalidTensorError(`input "${name}": "data" must be an array`, name)
  const values = flatten(data)
  const count = elementCount(dims)
  if (values.length !== count) {
    throw new InvalidTensorError(
      `input "${name}": ${values.length} values for shape [${dims.join(',')}], which holds ${count}`,
      name,
    )
  }
  if (dtype === 'string') {
    if (values.some((v) => typeof v !== 'string')) {
      throw new InvalidTensorError(`input "${name}": BYTES data must be strings`, name)
    }
    return { dtype, dims, data: values as string[] }
  }
  const bytes = new Uint8Array(byteLengthOf(dtype, count))
  const view = new DataView(bytes.buffer)
  for (let i = 0; i < values.length; i++) writeElement(view, dtype, i, values[i], name)
  return { dtype, dims, data: bytes }
}

const INT_RANGES: Partial<Record<TensorDtype, [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
}

function writeElement(view: DataView, dtype: Exclude<TensorDtype, 'string'>, i: number, v: unknown, name: string) {
  const bad = (what: string): never => {
    throw new InvalidTensorError(`input "${name}": element ${i} (${JSON.stringify(v)}) is not ${what}`, name)
  }
  if (dtype === 'bool') {
    if (typeof v === 'boolean') view.setUint8(i, v ? 1 : 0)
    else if (v === 0 || v === 1) view.setUint8(i, v)
    else bad('a boolean')
    return
  }
  if (dtype === 'int64' || dtype === 'uint64') {
    let n: bigint | undefined
    if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v)
    else if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) n = BigInt(v)
    const [lo, hi] = dtype === 'int64' ? [-(2n ** 63n), 2n ** 63n - 1n] : [0n, 2n ** 64n - 1n]
    if (n == null || n < lo || n > hi) return bad(`an ${dtype === 'int64' ? 'INT64' : 'UINT64'}`)
    if (dtype === 'int64') view.setBigInt64(i * 8, n, true)
    else view.setBigUint64(i * 8, n, true)
    return
  }
  const range = INT_RANGES[dtype]
  if (range != null) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < range[0] || v > range[1]) {
      return bad(`an integer in [${range[0]}, ${range[1]}]`)
    }
    if (dtype === 'int8') view.setInt8(i, v)
    else if (dtype === 'uint8') view.setUint8(i, v)
    else if (dtype === 'int16') view.setInt16(i * 2, v, true)
    else if (dtype === 'uint16') view.setUint16(i * 2, v, true)
    else if (dtype === 'int32') view.setInt32(i * 4, v, true)
    else view.setUint32(i * 4, v, true)
    return
  }
  const x =
    typeof v === 'number'
      ? v
      : v === 'NaN'
        ? Number.NaN
        : v === 'Infinity'
          ? Infinity
          : v === '-Infinity'
            ? -Infinity
            : undefined
  if (x === undefined) return bad('a number')
  if (dtype === 'float32') view.setFloat32(i * 4, x, true)
  else if (dtype === 'float64') view.setFloat64(i * 8, x, true)
  else view.setUint16(i * 2, floatToHalf(x), true)
}

/** An output tensor as onnxruntime returns it (or its plain look-alike). */
export interface OutputTensor {
  type: string
  dims: readonly number[]
  data: unknown
}

/** One output's bytes in the binary extension's layout (numeric: its element bytes; BYTES: length-prefixed). */
export function binaryOfTensor(tensor: OutputTensor): Uint8Array {
  if (tensor.type === 'string') {
    const parts = (tensor.data as string[]).map((s) => Buffer.from(s, 'utf8'))
    const out = Buffer.allocUnsafe(parts.reduce((n, p) => n + 4 + p.byteLength, 0))
    let at = 0
    for (const p of parts) {
      out.writeUInt32LE(p.byteLength, at)
      p.copy(out, at + 4)
      at += 4 + p.byteLength
    }
    return out
  }
  const view = tensor.data as ArrayBufferView
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength)
}

/**
 * One output's data as JSON text: numbers (int64 exact, as bare digits), booleans for BOOL, strings for BYTES,
 * FP16 as numbers, and non-finite floats as the strings "NaN", "Infinity", "-Infinity" (JSON has no literal).
 */
export function jsonDataOfTensor(tensor: OutputTensor): string {
  const values = Array.from(tensor.data as ArrayLike<unknown>)
  if (tensor.type === 'string') return JSON.stringify(values)
  if (tensor.type === 'bool') return `[${values.map((v) => (v === 1 || v === true ? 'true' : 'false')).join(',')}]`
  if (tensor.type === 'int64' || tensor.type === 'uint64') return `[${values.map(String).join(',')}]`
  const half = tensor.type === 'float16'
  return `[${values
    .map((v) => {
      const n = half ? halfToFloat(v as number) : (v as number)
      return Number.isFinite(n) ? String(n) : JSON.stringify(String(n))
    })
    .join(',')}]`
}
