import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Tensor as OrtTensor } from 'onnxruntime-node'
import { halfToFloat } from '../../src/compute/float16.js'
import { type ComputeInit, type ComputeService, createCompute } from '../../src/compute/index.js'
import { createNode, type ParkbenchNode } from '../../src/net/index.js'

/** The repo root, whether this runs from test/ (tsx) or dist/test/ (compiled). */
export const REPO_ROOT = (() => {
  const here = dirname(fileURLToPath(import.meta.url))
  const parts = here.split(/[\\/]/)
  const distIndex = parts.lastIndexOf('dist')
  return distIndex >= 0 ? parts.slice(0, distIndex).join('/') : join(here, '..', '..')
})()

/** ONNX's backend test data, next to the repo as CI lays it out. */
/** ONNX's own backend test cases, vendored (Apache-2.0, see its LICENSE and README). */
export const BACKEND_DATA = join(REPO_ROOT, 'test', 'fixtures', 'onnx-backend-data')

export const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'compute')

export interface Pair {
  provider: ParkbenchNode
  client: ParkbenchNode
  compute: ComputeService
  dataDir: string
  stop(): Promise<void>
}

/** A provider node serving compute and a client node, both on 127.0.0.1. */
export async function startPair(init: Partial<ComputeInit> = {}): Promise<Pair> {
  const dataDir = await mkdtemp(join(tmpdir(), 'parkbench-compute-'))
  const provider = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  const client = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  const compute = createCompute(provider, { dataDir, freeMode: true, workers: 2, ...init })
  await compute.start()
  return {
    provider,
    client,
    compute,
    dataDir,
    async stop() {
      await compute.stop()
      await Promise.all([provider.stop(), client.stop()])
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

/**
 * Compare a result with an expected tensor the way ONNX's backend runner does: floats within
 * `|a - e| <= atol + rtol * |e|` (NaN equals NaN), everything else exactly. Returns a reason, or undefined.
 */
export function compareTensors(
  actual: { type: string; dims: readonly number[]; data: unknown },
  expected: { type: string; dims: readonly number[]; data: unknown },
  rtol = 1e-3,
  atol = 1e-7,
): string | undefined {
  if (actual.type !== expected.type) return `dtype ${actual.type} != ${expected.type}`
  if (actual.dims.join(',') !== expected.dims.join(',')) return `dims [${actual.dims}] != [${expected.dims}]`
  const a = actual.data as ArrayLike<number | bigint | string>
  const e = expected.data as ArrayLike<number | bigint | string>
  if (a.length !== e.length) return `length ${a.length} != ${e.length}`
  const isFloat = ['float32', 'float64', 'float16'].includes(actual.type)
  for (let i = 0; i < a.length; i++) {
    if (!isFloat) {
      if (a[i] !== e[i]) return `element ${i}: ${String(a[i])} != ${String(e[i])}`
      continue
    }
    const x = actual.type === 'float16' ? halfToFloat(a[i] as number) : (a[i] as number)
    const y = actual.type === 'float16' ? halfToFloat(e[i] as number) : (e[i] as number)
    if (Number.isNaN(x) && Number.isNaN(y)) continue
    if (x === y) continue
    if (!(Math.abs(x - y) <= atol + rtol * Math.abs(y))) return `element ${i}: ${x} != ${y}`
  }
  return undefined
}

/** A plain-object view of an onnxruntime tensor for assertions. */
export function plain(tensor: OrtTensor): { type: string; dims: readonly number[]; data: unknown } {
  return { type: tensor.type, dims: tensor.dims, data: tensor.data }
}
