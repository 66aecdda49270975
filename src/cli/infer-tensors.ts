import { readFile } from 'node:fs/promises'
import { extname } from 'node:path'
import { floatToHalf, halfToFloat } from '../compute/float16.js'
import {
  byteLengthOf,
  elementCount,
  isTensorDtype,
  readOnnxTensorFile,
  type TensorData,
  type TensorDtype,
} from '../compute/index.js'
import { InvalidInputError } from '../errors.js'

/** One `--input` value: `FILE.json`, `FILE.pb`, or `NAME=FILE.pb` for a TensorProto that carries no name. */
export interface InputSpec {
  name?: string
  path: string
}

export function parseInputFlag(value: string): InputSpec {
  const eq = value.indexOf('=')
  if (eq > 0 && !value.slice(0, eq).includes('/')) return { name: value.slice(0, eq), path: value.slice(eq + 1) }
  return { path: value }
}

// Moved to compute/ so that the gateway shares them; re-exported where the CLI has always imported them.
export { floatToHalf, halfToFloat } from '../compute/float16.js'

function flatten(value: unknown): unknown[] {
  return Array.isArray(value) ? value.flatMap(flatten) : [value]
}

function toNumber(value: unknown, where: string): number {
  if (typeof value === 'number') return value
  if (typeof value === 'boolean') return value ? 1 : 0
  if (value === 'NaN') return Number.NaN
  if (value === 'Infinity') return Infinity
  if (value === '-Infinity') return -Infinity
  if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) return Number(value)
  throw new InvalidInputError(`${where}: ${JSON.stringify(value)} is not a number`)
}

function toBigInt(value: unknown, where: string): bigint {
  try {
    if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value)
    if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value)
  } catch {}
  throw new InvalidInputError(`${where}: ${JSON.stringify(value)} is not an integer`)
}

/** Build one tensor from its JSON form `{ "dtype": "float32", "dims": [1, 3], "data": [...] }`. */
export function tensorFromJson(name: string, json: unknown): TensorData {
  const where = `input "${name}"`
  if (json === null || typeof json !== 'object') throw new InvalidInputError(`${where}: expected { dtype, dims, data }`)
  const { dtype, dims: rawDims, data: rawData } = json as { dtype?: unknown; dims?: unknown; data?: unknown }
  if (typeof dtype !== 'string' || !isTensorDtype(dtype))
    throw new InvalidInputError(`${where}: unknown dtype ${String(dtype)}`)
  const values = flatten(rawData ?? [])
  const dims = rawDims === undefined ? [values.length] : rawDims
  if (!Array.isArray(dims) || dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new InvalidInputError(`${where}: dims must be whole numbers`)
  }
  const count = elementCount(dims as number[], where)
  if (values.length !== count)
    throw new InvalidInputError(`${where}: ${values.length} values for dims [${dims.join(',')}]`)
  if (dtype === 'string') {
    if (values.some((v) => typeof v !== 'string')) throw new InvalidInputError(`${where}: string tensors take strings`)
    return { dtype, dims: dims as number[], data: values as string[] }
  }
  const bytes = new Uint8Array(byteLengthOf(dtype, count))
  const view = new DataView(bytes.buffer)
  values.forEach((v, i) => {
    writeElement(view, dtype, i, v, where)
  })
  return { dtype, dims: dims as number[], data: bytes }
}

function writeElement(
  view: DataView,
  dtype: Exclude<TensorDtype, 'string'>,
  i: number,
  v: unknown,
  where: string,
): void {
  switch (dtype) {
    case 'float32':
      view.setFloat32(i * 4, toNumber(v, where), true)
      break
    case 'float64':
      view.setFloat64(i * 8, toNumber(v, where), true)
      break
    case 'float16':
      view.setUint16(i * 2, floatToHalf(toNumber(v, where)), true)
      break
    case 'int8':
      view.setInt8(i, toNumber(v, where))
      break
    case 'uint8':
    case 'bool':
      view.setUint8(i, toNumber(v, where))
      break
    case 'int16':
      view.setInt16(i * 2, toNumber(v, where), true)
      break
    case 'uint16':
      view.setUint16(i * 2, toNumber(v, where), true)
      break
    case 'int32':
      view.setInt32(i * 4, toNumber(v, where), true)
      break
    case 'uint32':
      view.setUint32(i * 4, toNumber(v, where), true)
      break
    case 'int64':
      view.setBigInt64(i * 8, toBigInt(v, where), true)
      break
    case 'uint64':
      view.setBigUint64(i * 8, toBigInt(v, where), true)
      break
  }
}

/**
 * Read every `--input`: a JSON file maps input names to `{ dtype, dims, data }` (optionally under `"inputs"`); a
 * .pb file is one ONNX TensorProto, named by `NAME=`, by its own name field, or by its position among the model's
 * inputs when the model's signature is known.
 */
export async function readInputs(
  specs: InputSpec[],
  modelInputNames: string[] | undefined,
  options: { signal?: AbortSignal } = {},
): Promise<Record<string, TensorData>> {
  const inputs: Record<string, TensorData> = {}
  let position = 0
  for (const spec of specs) {
    const isJson = extname(spec.path).toLowerCase() === '.json'
    if (isJson) {
      let parsed: unknown
      try {
        parsed = JSON.parse(await readFile(spec.path, 'utf8'))
      } catch (err) {
        throw new InvalidInputError(`${spec.path}: ${(err as Error).message}`, { cause: err })
      }
      const map = (parsed as { inputs?: unknown })?.inputs ?? parsed
      if (map === null || typeof map !== 'object' || Array.isArray(map)) {
        throw new InvalidInputError(`${spec.path}: expected an object of named tensors`)
      }
      for (const [name, json] of Object.entries(map as Record<string, unknown>))
        inputs[name] = tensorFromJson(name, json)
      continue
    }
    let tensor: TensorData & { name: string }
    try {
      tensor = await readOnnxTensorFile(spec.path, options)
    } catch (err) {
      throw new InvalidInputError(`${spec.path}: ${(err as Error).message}`, { cause: err })
    }
    const name = spec.name ?? (tensor.name !== '' ? tensor.name : modelInputNames?.[position])
    if (name === undefined) {
      throw new InvalidInputError(`${spec.path} carries no input name: pass --input NAME=${spec.path}`)
    }
    position++
    inputs[name] = { dtype: tensor.dtype, dims: tensor.dims, data: tensor.data }
  }
  return inputs
}

/** A JSON-safe view of an output: int64 as decimal strings, float16 as numbers, non-finite floats as strings. */
export function tensorToJson(tensor: { type: string; dims: readonly number[]; data: unknown }): {
  dtype: string
  dims: number[]
  data: unknown[]
} {
  const values = Array.from(tensor.data as ArrayLike<unknown>)
  const data = values.map((v) => {
    if (typeof v === 'bigint') return v.toString()
    if (tensor.type === 'bool') return v === 1 || v === true
    if (typeof v === 'number') {
      const n = tensor.type === 'float16' ? halfToFloat(v) : v
      return Number.isFinite(n) ? n : String(n)
    }
    return v
  })
  return { dtype: tensor.type, dims: [...tensor.dims], data }
}
