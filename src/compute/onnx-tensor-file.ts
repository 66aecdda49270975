import { readFile } from 'node:fs/promises'
import type { AbortOptions } from '@libp2p/interface'
import { reader } from 'protons-runtime'
import { InvalidInferenceInputError } from './errors.js'
import { byteLengthOf, dtypeFromOnnx, elementCount, type TensorData } from './tensor.js'

/**
 * Reader for serialized ONNX TensorProto files (the backend test data's input_N.pb / output_N.pb, and what
 * `onnx.numpy_helper.from_array(...).SerializeToString()` writes). protocols/onnx-tensor.proto lists the fields
 * read here with ONNX's own numbers. It is hand-written rather than protons-generated because ONNX writers use
 * packed repeated fields (float_data, int64_data, ...), which protons 9 does not decode.
 */
export interface OnnxTensorProto {
  name: string
  dims: number[]
  dataType: number
  rawData?: Uint8Array
  floatData: number[]
  int32Data: number[]
  int64Data: bigint[]
  uint64Data: bigint[]
  doubleData: number[]
  stringData: Uint8Array[]
  dataLocation: number
}

const WIRE_VARINT = 0
const WIRE_LENGTH_DELIMITED = 2

/** Decode TensorProto bytes. Throws {@link InvalidInferenceInputError} on bytes that are not one. */
export function decodeOnnxTensorProto(bytes: Uint8Array): OnnxTensorProto {
  const tensor: OnnxTensorProto = {
    name: '',
    dims: [],
    dataType: 0,
    floatData: [],
    int32Data: [],
    int64Data: [],
    uint64Data: [],
    doubleData: [],
    stringData: [],
    dataLocation: 0,
  }
  const r = reader(bytes)
  // A repeated scalar may come packed (one length-delimited run) or one value per tag; accept both, as protobuf
  // parsers must.
  const repeated = <T>(wireType: number, target: T[], read: () => T): void => {
    if (wireType !== WIRE_LENGTH_DELIMITED) {
      target.push(read())
      return
    }
    const end = r.uint32() + r.pos
    while (r.pos < end) target.push(read())
  }
  try {
    while (r.pos < r.len) {
      const tag = r.uint32()
      const wireType = tag & 7
      switch (tag >>> 3) {
        case 1:
          repeated(wireType, tensor.dims, () => r.int64Number())
          break
        case 2:
          tensor.dataType = r.int32()
          break
        case 4:
          repeated(wireType, tensor.floatData, () => r.float())
          break
        case 5:
          repeated(wireType, tensor.int32Data, () => r.int32())
          break
        case 6:
          tensor.stringData.push(r.bytes())
          break
        case 7:
          repeated(wireType, tensor.int64Data, () => r.int64())
          break
        case 8:
          tensor.name = r.string()
          break
        case 9:
          tensor.rawData = r.bytes()
          break
        case 10:
          repeated(wireType, tensor.doubleData, () => r.double())
          break
        case 11:
          repeated(wireType, tensor.uint64Data, () => r.uint64())
          break
        case 14:
          tensor.dataLocation = wireType === WIRE_VARINT ? r.int32() : -1
          break
        default:
          r.skipType(wireType)
      }
    }
  } catch (err) {
    throw new InvalidInferenceInputError(`Not an ONNX TensorProto: ${(err as Error).message}`, { cause: err })
  }
  return tensor
}

/**
 * Convert a decoded TensorProto into {@link TensorData} (raw little-endian element bytes), whichever of ONNX's
 * storage fields it used.
 */
export function onnxTensorToData(proto: OnnxTensorProto): TensorData & { name: string } {
  const dtype = dtypeFromOnnx(proto.dataType)
  const label = proto.name === '' ? 'TensorProto' : `TensorProto "${proto.name}"`
  if (dtype === undefined) {
    throw new InvalidInferenceInputError(
      `${label}: ONNX data type ${proto.dataType} is not supported by onnxruntime-node`,
    )
  }
  if (proto.dataLocation !== 0) throw new InvalidInferenceInputError(`${label}: external data is not supported`)
  const count = elementCount(proto.dims, label)
  const base = { name: proto.name, dtype, dims: proto.dims }
  if (dtype === 'string') {
    const decoder = new TextDecoder('utf-8', { fatal: true })
    if (proto.stringData.length !== count) throw new InvalidInferenceInputError(`${label}: expected ${count} strings`)
    return { ...base, data: proto.stringData.map((b) => decoder.decode(b)) }
  }
  const byteLength = byteLengthOf(dtype, count)
  if (proto.rawData !== undefined && proto.rawData.byteLength > 0) {
    if (proto.rawData.byteLength !== byteLength) {
      throw new InvalidInferenceInputError(
        `${label}: raw_data has ${proto.rawData.byteLength} bytes, expected ${byteLength}`,
      )
    }
    return { ...base, data: new Uint8Array(proto.rawData) }
  }
  const bytes = new Uint8Array(byteLength)
  const view = new DataView(bytes.buffer)
  const values = typedValues(proto, dtype)
  if (values.length !== count)
    throw new InvalidInferenceInputError(`${label}: ${values.length} values, expected ${count}`)
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!
    switch (dtype) {
      case 'float32':
        view.setFloat32(i * 4, v as number, true)
        break
      case 'float64':
        view.setFloat64(i * 8, v as number, true)
        break
      case 'int64':
        view.setBigInt64(i * 8, v as bigint, true)
        break
      case 'uint64':
        view.setBigUint64(i * 8, BigInt.asUintN(64, v as bigint), true)
        break
      case 'uint32':
        view.setUint32(i * 4, Number(v), true)
        break
      case 'int32':
        view.setInt32(i * 4, v as number, true)
        break
      case 'int16':
      case 'uint16':
      case 'float16':
        // int32_data holds 16-bit values (float16 as its bit pattern) widened to int32.
        view.setUint16(i * 2, (v as number) & 0xffff, true)
        break
      default:
        // int8, uint8, bool: one byte each.
        view.setUint8(i, (v as number) & 0xff)
    }
  }
  return { ...base, data: bytes }
}

function typedValues(proto: OnnxTensorProto, dtype: Exclude<TensorData['dtype'], 'string'>): Array<number | bigint> {
  switch (dtype) {
    case 'float32':
      return proto.floatData
    case 'float64':
      return proto.doubleData
    case 'int64':
      return proto.int64Data
    case 'uint32':
    case 'uint64':
      return proto.uint64Data
    default:
      return proto.int32Data
  }
}

/** Read a TensorProto .pb file as {@link TensorData} plus the name it carries (may be empty). */
export async function readOnnxTensorFile(
  path: string,
  options: AbortOptions = {},
): Promise<TensorData & { name: string }> {
  const bytes = await readFile(path, options.signal === undefined ? {} : { signal: options.signal })
  return onnxTensorToData(decodeOnnxTensorProto(bytes))
}
