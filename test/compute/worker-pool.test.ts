import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type ModelRecord, ModelStore, type PoolJob, WorkerPool } from '../../src/compute/index.js'
import { addModel, identityModel, matmulModel } from './onnx-builder.js'

describe('WorkerPool', () => {
  let dir: string
  let store: ModelStore
  let add: ModelRecord
  let identity: ModelRecord
  let slow: ModelRecord
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parkbench-pool-'))
    store = new ModelStore({ dataDir: dir })
    add = await store.add(addModel())
    identity = await store.add(identityModel(['float32']))
    slow = await store.add(matmulModel(48))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  const addJob = (): PoolJob => ({
    sha256: add.sha256,
    path: store.modelPath(add.sha256),
    sizeBytes: add.sizeBytes,
    outputNames: [],
    inputs: ['a', 'b'].map((name) => ({ name, dtype: 'float32' as const, dims: [2, 3], data: new Uint8Array(24) })),
  })
  const identityJob = (): PoolJob => ({
    sha256: identity.sha256,
    path: store.modelPath(identity.sha256),
    sizeBytes: identity.sizeBytes,
    outputNames: [],
    inputs: [{ name: 'x_float32', dtype: 'float32', dims: [1], data: new Uint8Array(4) }],
  })
  const slowJob = (n = 384): PoolJob => ({
    sha256: slow.sha256,
    path: store.modelPath(slow.sha256),
    sizeBytes: slow.sizeBytes,
    outputNames: [],
    inputs: ['a', 'b'].map((name) => ({
      name,
      dtype: 'float32' as const,
      dims: [n, n],
      data: new Uint8Array(n * n * 4),
    })),
  })

  it('keeps loaded sessions in an LRU under its memory budget', async () => {
    // Sessions count at least 1 MiB each: a 1.5 MiB budget holds one.
    const pool = new WorkerPool({ workers: 1, intraOpThreads: 1, sessionMemoryBytes: 1.5 * 1024 * 1024 })
    await pool.start()
    try {
      assert.ok((await pool.run(addJob())).loadMs > 0, 'first use loads')
      assert.equal((await pool.run(addJob())).loadMs, 0, 'second use hits the cache')
      assert.ok((await pool.run(identityJob())).loadMs > 0)
      assert.ok((await pool.run(addJob())).loadMs > 0, 'evicted by the other model')
    } finally {
      await pool.stop()
    }
    const roomy = new WorkerPool({ workers: 1, intraOpThreads: 1, sessionMemoryBytes: 64 * 1024 * 1024 })
    await roomy.start()
    try {
      await roomy.run(addJob())
      await roomy.run(identityJob())
      assert.equal((await roomy.run(addJob())).loadMs, 0, 'both fit')
    } finally {
      await roomy.stop()
    }
  })

  it('refuses work past its queue (BUSY) and reports queue and run time', async () => {
    const pool = new WorkerPool({ workers: 1, intraOpThreads: 1, maxQueue: 1 })
    await pool.start()
    try {
      const running = pool.run(slowJob())
      const queued = pool.run(addJob())
      await assert.rejects(pool.run(addJob()), { name: 'BusyError', code: 'BUSY' })
      const [first, second] = await Promise.all([running, queued])
      assert.ok(first.runMs > 0)
      assert.ok(second.queueMs > 0, 'the queued job waited for the worker')
      assert.equal(pool.stats.refused, 1)
    } finally {
      await pool.stop()
    }
  })

  it('aborts a queued job at once and fails jobs with SHUTTING_DOWN on stop', async () => {
    const pool = new WorkerPool({ workers: 1, intraOpThreads: 1 })
    await pool.start()
    const running = pool.run(slowJob())
    const controller = new AbortController()
    const queued = pool.run(addJob(), { signal: controller.signal })
    controller.abort()
    await assert.rejects(queued, { name: 'AbortedError' })
    const timedOut = pool.run(addJob(), { signal: AbortSignal.timeout(1) })
    await assert.rejects(timedOut, { name: 'DeadlineExceededError' })
    const stopping = pool.stop()
    await assert.rejects(running, { name: 'ShuttingDownError' })
    await stopping
    await assert.rejects(pool.run(addJob()), { name: 'ShuttingDownError' })
  })

  it('inspects a model in a worker; a corrupt one is INVALID_MODEL', async () => {
    const pool = new WorkerPool({ workers: 1, intraOpThreads: 1 })
    await pool.start()
    try {
      const signature = await pool.inspect(store.modelPath(add.sha256))
      assert.deepEqual(
        signature.inputs.map((i) => i.name),
        ['a', 'b'],
      )
      await assert.rejects(pool.inspect(join(dir, 'missing.onnx')), { name: 'InvalidModelError' })
    } finally {
      await pool.stop()
    }
  })
})
