import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Tensor } from 'onnxruntime-node'
import { infer, type ModelRecord } from '../../src/compute/index.js'
import { type Pair, startPair } from './helpers.js'
import { buildModel, matmulModel } from './onnx-builder.js'

const MiB = 1024 * 1024

/**
 * `y = Cos(ConstantOfShape(s))`: a 120-byte model whose output shape is the value of a 16-byte input, so no
 * estimate can see it coming. With s = [20000, 20000] it took 6.1 GiB at its peak before the budget (and left 5.1
 * GiB retained): every tensor is 1.6 GB.
 */
const bomb = (declared: Array<number | string> = ['a', 'b']): Uint8Array =>
  buildModel({
    nodes: [
      { op: 'ConstantOfShape', inputs: ['s'], outputs: ['z'] },
      { op: 'Cos', inputs: ['z'], outputs: ['y'] },
    ],
    inputs: [{ name: 's', type: 'int64', dims: [2] }],
    outputs: [{ name: 'y', type: 'float32', dims: declared }],
  })
const shape = (rows: number, cols: number): Tensor =>
  new Tensor('int64', BigInt64Array.from([BigInt(rows), BigInt(cols)]), [2])

/** The provider's memory: this process (provider and client nodes) and its worker processes. */
function providerRss(pair: Pair): number {
  return process.memoryUsage.rss() + (pair.compute.pool.residentBytes?.() ?? 0)
}

/** Run `task`, sampling the provider's memory every 5 ms; returns its outcome and the peak growth. */
async function peakDuring<T>(
  pair: Pair,
  task: Promise<T>,
): Promise<{ outcome: PromiseSettledResult<T>; peak: number }> {
  const start = providerRss(pair)
  let peak = 0
  const timer = setInterval(() => {
    peak = Math.max(peak, providerRss(pair) - start)
  }, 5)
  const [outcome] = await Promise.allSettled([task])
  clearInterval(timer)
  return { outcome: outcome!, peak: Math.max(peak, providerRss(pair) - start) }
}

const linux = process.platform === 'linux'

describe('the memory budget: per job and per provider, before and during a run', () => {
  let pair: Pair
  let cos: ModelRecord
  let slow: ModelRecord
  before(async () => {
    pair = await startPair({
      workers: 2,
      intraOpThreads: 1,
      jobMemoryBytes: 128 * MiB,
      sessionMemoryBytes: 64 * MiB,
      maxMessageBytes: 512 * MiB,
    })
    cos = await pair.compute.store.add(bomb(), { name: 'cos-of-constant' })
    slow = await pair.compute.store.add(matmulModel(48), { name: 'slow' })
  })
  after(async () => {
    await pair.stop()
  })
  const peer = (): ReturnType<Pair['provider']['getMultiaddrs']> => pair.provider.getMultiaddrs()

  it('stops a job whose output shape comes from an input value (20000x20000) at once: TOO_LARGE, memory back, others served', {
    skip: !linux && 'the kernel memory limit is Linux only',
  }, async (t) => {
    const before = providerRss(pair)
    const n = 256
    const x = new Tensor('float32', new Float32Array(n * n), [n, n])
    const other = infer(pair.client, peer(), { model: slow.sha256, inputs: { a: x, b: x } })
    const { outcome, peak } = await peakDuring(
      pair,
      infer(pair.client, peer(), { model: cos.sha256, inputs: { s: shape(20_000, 20_000) } }),
    )
    assert.equal(outcome.status, 'rejected')
    assert.equal((outcome as PromiseRejectedResult).reason.code, 'TOO_LARGE')
    // The concurrent job on the other worker was not disturbed.
    assert.deepEqual([...(await other).outputs.y!.dims], [n, n])
    // Without the budget this took 6.1 GiB; the allocation now fails inside the worker before a page is touched.
    assert.ok(peak < 256 * MiB, `the provider grew by ${peak >> 20} MiB`)
    const settled = providerRss(pair) - before
    assert.ok(settled < 128 * MiB, `the provider kept ${settled >> 20} MiB`)
    // The same model with a shape within the budget runs.
    const { outputs } = await infer(pair.client, peer(), { model: cos.sha256, inputs: { s: shape(100, 100) } })
    assert.equal((outputs.y!.data as Float32Array)[0], 1)
    t.diagnostic(`provider RSS ${before >> 20} MiB before, peak +${peak >> 20} MiB, after ${settled >> 20} MiB`)
  })

  it('kills a job that grows past its budget while it runs, and its memory goes with the worker', {
    skip: !linux && 'the memory watch is Linux only',
  }, async (t) => {
    // 6000x6000 floats: 144 MB a tensor, under the worker's kernel limit but over the 128 MiB job budget.
    const outOfMemory = pair.compute.pool.stats.outOfMemory
    const before = providerRss(pair)
    const { outcome, peak } = await peakDuring(
      pair,
      infer(pair.client, peer(), { model: cos.sha256, inputs: { s: shape(6000, 6000) } }),
    )
    assert.equal((outcome as PromiseRejectedResult).reason?.code, 'TOO_LARGE')
    assert.ok(pair.compute.pool.stats.outOfMemory > outOfMemory, 'failed for memory')
    assert.ok(peak < 512 * MiB, `the provider grew by ${peak >> 20} MiB`)
    // The replacement worker serves.
    const { outputs } = await infer(pair.client, peer(), { model: cos.sha256, inputs: { s: shape(10, 10) } })
    assert.deepEqual([...outputs.y!.dims], [10, 10])
    const settled = providerRss(pair) - before
    assert.ok(settled < 128 * MiB, `the provider kept ${settled >> 20} MiB`)
    t.diagnostic(`provider RSS ${before >> 20} MiB before, peak +${peak >> 20} MiB, after ${settled >> 20} MiB`)
  })

  it('refuses before it runs a job whose model shapes say it cannot fit (fixed dims, or dims tied to an input)', async () => {
    const declared = await pair.compute.store.add(bomb([20_000, 20_000]), { name: 'declared' })
    // x[n,1] x y[1,n] = [n,n]: 200 KB of input, 10 GB of output.
    const outer = await pair.compute.store.add(
      buildModel({
        nodes: [{ op: 'MatMul', inputs: ['x', 'y'], outputs: ['z'] }],
        inputs: [
          { name: 'x', type: 'float32', dims: ['n', 1] },
          { name: 'y', type: 'float32', dims: [1, 'n'] },
        ],
        outputs: [{ name: 'z', type: 'float32', dims: ['n', 'n'] }],
      }),
      { name: 'outer' },
    )
    const { completed, failed } = pair.compute.pool.stats
    await assert.rejects(infer(pair.client, peer(), { model: declared.sha256, inputs: { s: shape(20_000, 20_000) } }), {
      code: 'TOO_LARGE',
    })
    const n = 50_000
    await assert.rejects(
      infer(pair.client, peer(), {
        model: outer.sha256,
        inputs: {
          x: new Tensor('float32', new Float32Array(n), [n, 1]),
          y: new Tensor('float32', new Float32Array(n), [1, n]),
        },
      }),
      { code: 'TOO_LARGE' },
    )
    // Neither reached a worker.
    assert.equal(pair.compute.pool.stats.completed, completed)
    assert.equal(pair.compute.pool.stats.failed, failed)
    // A small outer product is fine.
    const x = new Tensor('float32', Float32Array.from([1, 2]), [2, 1])
    const y = new Tensor('float32', Float32Array.from([3, 4]), [1, 2])
    const { outputs } = await infer(pair.client, peer(), { model: outer.sha256, inputs: { x, y } })
    assert.deepEqual([...(outputs.z!.data as Float32Array)], [3, 4, 6, 8])
  })

  it('holds at most maxRequestMemoryBytes of requests at once, all peers: more are BUSY, the rest complete', async () => {
    const small = await startPair({ workers: 1, maxRequestMemoryBytes: 8 * MiB })
    try {
      const record = await small.compute.store.add(matmulModel(48), { name: 'slow' })
      const n = 512 // 1 MiB a tensor: 2 MiB a request
      const x = new Tensor('float32', new Float32Array(n * n), [n, n])
      const outcomes = await Promise.allSettled(
        Array.from({ length: 8 }, () =>
          infer(small.client, small.provider.getMultiaddrs(), { model: record.sha256, inputs: { a: x, b: x } }),
        ),
      )
      const busy = outcomes.filter((o) => o.status === 'rejected' && (o.reason as { code?: string }).code === 'BUSY')
      const ok = outcomes.filter((o) => o.status === 'fulfilled')
      assert.equal(busy.length + ok.length, 8)
      assert.ok(busy.length >= 3, `${busy.length} BUSY`)
      assert.ok(ok.length >= 1)
    } finally {
      await small.stop()
    }
  })
})
