import { createHash } from 'node:crypto'
import { addModel, matmulModel } from '../compute/onnx-builder.js'
import type { TensorData } from '../compute/tensor.js'
import { createRandom } from './random.js'
import { BUILTIN_MODEL_NAMES } from './scenario.js'

/** A workload model the swarm builds itself: its bytes, and how to make its i-th input deterministically. */
export interface SwarmModel {
  name: string
  bytes: Uint8Array<ArrayBuffer>
  sha256: string
  inputs(index: number): Record<string, TensorData>
}

function float32(dims: number[], seed: number): TensorData {
  const random = createRandom(seed)
  const n = dims.reduce((a, b) => a * b, 1)
  const values = new Float32Array(n)
  // Small values keep repeated products finite and comparable.
  for (let i = 0; i < n; i++) values[i] = random.next() - 0.5
  return { dtype: 'float32', dims, data: new Uint8Array(values.buffer) }
}

function model(
  name: string,
  bytes: Uint8Array<ArrayBuffer>,
  inputs: (index: number) => Record<string, TensorData>,
): SwarmModel {
  return { name, bytes, sha256: createHash('sha256').update(bytes).digest('hex'), inputs }
}

/**
 * The built-in models, all float32 and small enough that hundreds of providers share two cores: `add` (Add on
 * [2, 3]: the network's cost alone), `matmul-16` (2 MatMuls on [16, 16]) and `matmul-64` (4 MatMuls on [64, 64]:
 * about 2 MFLOP a request).
 */
export function builtinModels(): Map<string, SwarmModel> {
  const out = new Map<string, SwarmModel>()
  out.set(
    'add',
    model('add', addModel(), (i) => ({ a: float32([2, 3], 1000 + i), b: float32([2, 3], 2000 + i) })),
  )
  out.set(
    'matmul-16',
    model('matmul-16', matmulModel(2), (i) => ({ a: float32([16, 16], 3000 + i), b: float32([16, 16], 4000 + i) })),
  )
  out.set(
    'matmul-64',
    model('matmul-64', matmulModel(4), (i) => ({ a: float32([64, 64], 5000 + i), b: float32([64, 64], 6000 + i) })),
  )
  for (const name of BUILTIN_MODEL_NAMES) if (!out.has(name)) throw new Error(`built-in model ${name} missing`)
  return out
}
