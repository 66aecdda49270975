/**
 * Builds small ONNX models in memory: a hand-rolled protobuf writer for the few ModelProto fields needed (field
 * numbers from onnx.proto). Tests use it instead of binary fixtures; the swarm lab makes its workload models with it.
 * Needs neither Python nor a download.
 */

function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value))
  const out: number[] = []
  while (v >= 0x80n) {
    out.push(Number((v & 0x7fn) | 0x80n))
    v >>= 7n
  }
  out.push(Number(v))
  return out
}

function field(number: number, value: number | bigint | string | Uint8Array | number[]): number[] {
  if (typeof value === 'number' || typeof value === 'bigint') return [...varint(number << 3), ...varint(value)]
  const bytes = typeof value === 'string' ? [...new TextEncoder().encode(value)] : [...value]
  return [...varint((number << 3) | 2), ...varint(bytes.length), ...bytes]
}

/** ONNX TensorProto.DataType numbers. */
export const ONNX_TYPES = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
  uint4: 21,
  int4: 22,
} as const

export type Dim = number | string

export interface ValueInfo {
  name: string
  type: keyof typeof ONNX_TYPES
  dims: Dim[]
}

export interface NodeSpec {
  op: string
  inputs: string[]
  outputs: string[]
}

function valueInfo(v: ValueInfo): number[] {
  const dims = v.dims.flatMap((d) => field(1, typeof d === 'number' ? field(1, d) : field(2, d)))
  const tensorType = [...field(1, ONNX_TYPES[v.type]), ...field(2, dims)]
  return [...field(1, v.name), ...field(2, field(1, tensorType))]
}

/** Serialize a single-graph model. */
export function buildModel(spec: {
  nodes: NodeSpec[]
  inputs: ValueInfo[]
  outputs: ValueInfo[]
  opset?: number
  /** ModelProto.doc_string: padding that makes a model as large as a test needs without more compute. */
  docString?: string
}): Uint8Array<ArrayBuffer> {
  const graph = [
    ...spec.nodes.flatMap((n) =>
      field(1, [...n.inputs.flatMap((i) => field(1, i)), ...n.outputs.flatMap((o) => field(2, o)), ...field(4, n.op)]),
    ),
    ...field(2, 'parkbench_test'),
    ...spec.inputs.flatMap((v) => field(11, valueInfo(v))),
    ...spec.outputs.flatMap((v) => field(12, valueInfo(v))),
  ]
  const model = [
    ...field(1, 10), // ir_version
    ...field(2, 'parkbench-test'), // producer_name
    ...(spec.docString === undefined ? [] : field(6, spec.docString)),
    ...field(7, graph),
    ...field(8, [...field(1, ''), ...field(2, spec.opset ?? 21)]), // opset_import
  ]
  return new Uint8Array(model)
}

/** `y_<type> = Identity(x_<type>)` for each listed type, all in one model, shapes left dynamic. */
export function identityModel(types: Array<keyof typeof ONNX_TYPES>): Uint8Array<ArrayBuffer> {
  return buildModel({
    nodes: types.map((t) => ({ op: 'Identity', inputs: [`x_${t}`], outputs: [`y_${t}`] })),
    inputs: types.map((t) => ({ name: `x_${t}`, type: t, dims: ['n'] })),
    outputs: types.map((t) => ({ name: `y_${t}`, type: t, dims: ['n'] })),
  })
}

/**
 * `y = (((a x b) x b) x b)...`, `depth` MatMuls on float32 [n, n]: run time grows with depth x n^3, which tests
 * use to make a job as slow as they need with small inputs.
 */
export function matmulModel(depth = 1): Uint8Array<ArrayBuffer> {
  const nodes: NodeSpec[] = []
  for (let i = 0; i < depth; i++) {
    nodes.push({ op: 'MatMul', inputs: [i === 0 ? 'a' : `t${i}`, 'b'], outputs: [i === depth - 1 ? 'y' : `t${i + 1}`] })
  }
  return buildModel({
    nodes,
    inputs: [
      { name: 'a', type: 'float32', dims: ['n', 'n'] },
      { name: 'b', type: 'float32', dims: ['n', 'n'] },
    ],
    outputs: [{ name: 'y', type: 'float32', dims: ['n', 'n'] }],
  })
}

/** `y = Add(a, b)` on float32 [2, 3]: a model with a fixed shape, padded to about `padBytes` if asked. */
export function addModel(padBytes = 0): Uint8Array<ArrayBuffer> {
  return buildModel({
    ...(padBytes > 0 ? { docString: 'p'.repeat(padBytes) } : {}),
    nodes: [{ op: 'Add', inputs: ['a', 'b'], outputs: ['y'] }],
    inputs: [
      { name: 'a', type: 'float32', dims: [2, 3] },
      { name: 'b', type: 'float32', dims: [2, 3] },
    ],
    outputs: [{ name: 'y', type: 'float32', dims: [2, 3] }],
  })
}

/**
 * `model` with `padBytes` of doc_string appended (a later field replaces an earlier one in protobuf), without
 * building the padding as a JS array: large models for transfer tests, in milliseconds.
 */
export function padModel(model: Uint8Array, padBytes: number): Uint8Array<ArrayBuffer> {
  const header = [...varint((6 << 3) | 2), ...varint(padBytes)]
  const out = new Uint8Array(model.byteLength + header.length + padBytes)
  out.set(model)
  out.set(header, model.byteLength)
  out.fill(0x70, model.byteLength + header.length)
  return out
}
