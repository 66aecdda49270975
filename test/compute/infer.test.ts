import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { lpStream, pbStream } from '@libp2p/utils'
import { InferenceSession, Tensor } from 'onnxruntime-node'
import {
  ComputeStatus,
  createInferClient,
  createInferClients,
  encodeInferRequest,
  exchange,
  INFER_PROTOCOL,
  infer,
  type ModelRecord,
  type TensorData,
} from '../../src/compute/index.js'
import { InferRequest, InferResponse } from '../../src/compute/pb/compute.js'
import { createNode } from '../../src/net/index.js'
import { compareTensors, type Pair, plain, startPair } from './helpers.js'
import { addModel, identityModel, matmulModel } from './onnx-builder.js'

const NUMERIC_TYPES = [
  'float32',
  'float64',
  'float16',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'bool',
] as const

/** Edge values per dtype: extremes, NaN and signed zero, so a byte-level mistake shows. */
function sampleTensor(type: (typeof NUMERIC_TYPES)[number] | 'string'): Tensor {
  switch (type) {
    case 'float32':
      return new Tensor('float32', new Float32Array([0, -0, 1.5, Number.NaN, Infinity, -Infinity, 3.4e38, 1e-45]), [8])
    case 'float64':
      return new Tensor('float64', new Float64Array([0, -0, Math.PI, Number.NaN, Number.MAX_VALUE, 5e-324]), [6])
    case 'float16':
      return new Tensor(
        'float16',
        new Uint16Array([0x0000, 0x8000, 0x3c00, 0x7c00, 0xfc00, 0x7e00, 0x0001, 0x7bff]),
        [8],
      )
    case 'int8':
      return new Tensor('int8', new Int8Array([-128, -1, 0, 1, 127]), [5])
    case 'int16':
      return new Tensor('int16', new Int16Array([-32768, -1, 0, 32767]), [4])
    case 'int32':
      return new Tensor('int32', new Int32Array([-2147483648, -1, 0, 2147483647]), [4])
    case 'int64':
      return new Tensor('int64', new BigInt64Array([-(2n ** 63n), -1n, 0n, 2n ** 63n - 1n]), [4])
    case 'uint8':
      return new Tensor('uint8', new Uint8Array([0, 1, 128, 255]), [4])
    case 'uint16':
      return new Tensor('uint16', new Uint16Array([0, 1, 65535]), [3])
    case 'uint32':
      return new Tensor('uint32', new Uint32Array([0, 1, 4294967295]), [3])
    case 'uint64':
      return new Tensor('uint64', new BigUint64Array([0n, 1n, 2n ** 64n - 1n]), [3])
    case 'bool':
      return new Tensor('bool', new Uint8Array([1, 0, 1, 1]), [4])
    case 'string':
      // No NUL inside a string: onnxruntime-node passes strings as C strings and cuts them there, locally too.
      return new Tensor('string', ['', 'plain', 'ünïcødé ✓', '😀 emoji', 'x'.repeat(1000)], [5])
  }
}

function bytesOf(t: Tensor): Uint8Array | string[] {
  if (t.type === 'string') return t.data as string[]
  const v = t.data as ArrayBufferView
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
}

describe('infer over /parkbench/infer/1.0.0', () => {
  let pair: Pair
  let identity: ModelRecord
  let add: ModelRecord
  let slow: ModelRecord
  before(async () => {
    pair = await startPair({ maxMessageBytes: 4 * 1024 * 1024, workers: 2 })
    identity = await pair.compute.store.add(identityModel([...NUMERIC_TYPES, 'string']), { name: 'identity' })
    add = await pair.compute.store.add(addModel(), { name: 'add' })
    slow = await pair.compute.store.add(matmulModel(48), { name: 'slow-matmul' })
  })
  after(async () => {
    await pair.stop()
  })

  const addr = (): ReturnType<Pair['provider']['getMultiaddrs']> => pair.provider.getMultiaddrs()

  it('round-trips every dtype onnxruntime-node supports, strings included, byte for byte and as ORT does locally', async () => {
    const types = [...NUMERIC_TYPES, 'string'] as const
    const inputs: Record<string, Tensor> = {}
    for (const t of types) inputs[`x_${t}`] = sampleTensor(t)
    const { outputs, timing } = await infer(pair.client, addr(), { model: identity.sha256, inputs })
    const session = await InferenceSession.create(identityModel([...types]))
    const local = await session.run(inputs)
    await session.release()
    for (const t of types) {
      const got = outputs[`y_${t}`]
      assert.ok(got, `output y_${t}`)
      assert.equal(got.type, t)
      assert.deepEqual([...got.dims], [...inputs[`x_${t}`]!.dims])
      assert.deepEqual(bytesOf(got), bytesOf(inputs[`x_${t}`]!), `y_${t} bytes`)
      assert.deepEqual(bytesOf(got), bytesOf(local[`y_${t}`] as Tensor), `y_${t} equals the local run`)
    }
    assert.ok(timing.runMs >= 0 && timing.queueMs >= 0 && timing.totalMs > 0)
  })

  it('returns only the outputs asked for, and accepts empty and scalar tensors', async () => {
    const inputs: Record<string, Tensor> = {}
    for (const t of NUMERIC_TYPES) {
      const ArrayType = (sampleTensor(t).data as unknown as { constructor: new (n: number) => Float32Array })
        .constructor
      inputs[`x_${t}`] = new Tensor(t as 'float32', new ArrayType(0), [0])
    }
    inputs.x_string = new Tensor('string', [], [0])
    const { outputs } = await infer(pair.client, addr(), {
      model: identity.sha256,
      inputs,
      outputNames: ['y_string', 'y_int64'],
    })
    assert.deepEqual(Object.keys(outputs).sort(), ['y_int64', 'y_string'])
    assert.deepEqual([...outputs.y_int64!.dims], [0])
  })

  it('computes: Add on fixed shapes gives the local result', async () => {
    const a = new Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3])
    const b = new Tensor('float32', Float32Array.from([0.5, 0.25, -1, 10, 20, 30]), [2, 3])
    const { outputs } = await infer(pair.client, addr(), { model: add.sha256, inputs: { a, b } })
    assert.equal(
      compareTensors(plain(outputs.y!), { type: 'float32', dims: [2, 3], data: [1.5, 2.25, 2, 14, 25, 36] }),
      undefined,
    )
  })

  describe('bad input gets a typed status and the provider keeps serving', () => {
    const good = async (): Promise<void> => {
      const a = new Tensor('float32', new Float32Array(6).fill(1), [2, 3])
      const { outputs } = await infer(pair.client, addr(), { model: add.sha256, inputs: { a, b: a } })
      assert.deepEqual([...(outputs.y!.data as Float32Array)], [2, 2, 2, 2, 2, 2])
    }
    const f32 = (n: number, dims: number[]): Tensor => new Tensor('float32', new Float32Array(n), dims)

    it('unknown model hash: MODEL_NOT_FOUND', async () => {
      await assert.rejects(infer(pair.client, addr(), { model: 'ab'.repeat(32), inputs: { a: f32(6, [2, 3]) } }), {
        name: 'ModelNotFoundError',
        code: 'MODEL_NOT_FOUND',
      })
      await good()
    })

    it('wrong dtype: INVALID_INPUT', async () => {
      const a = new Tensor('float64', new Float64Array(6), [2, 3])
      await assert.rejects(infer(pair.client, addr(), { model: add.sha256, inputs: { a, b: f32(6, [2, 3]) } }), {
        name: 'InvalidInferenceInputError',
      })
      await good()
    })

    it('wrong shape: INVALID_INPUT', async () => {
      await assert.rejects(
        infer(pair.client, addr(), { model: add.sha256, inputs: { a: f32(6, [3, 2]), b: f32(6, [2, 3]) } }),
        { name: 'InvalidInferenceInputError' },
      )
      await assert.rejects(
        infer(pair.client, addr(), { model: add.sha256, inputs: { a: f32(6, [6]), b: f32(6, [2, 3]) } }),
        { name: 'InvalidInferenceInputError' },
      )
      await good()
    })

    it('missing input, unknown input, unknown output: INVALID_INPUT', async () => {
      await assert.rejects(infer(pair.client, addr(), { model: add.sha256, inputs: { a: f32(6, [2, 3]) } }), {
        name: 'InvalidInferenceInputError',
      })
      await assert.rejects(
        infer(pair.client, addr(), {
          model: add.sha256,
          inputs: { a: f32(6, [2, 3]), b: f32(6, [2, 3]), c: f32(1, [1]) },
        }),
        { name: 'InvalidInferenceInputError' },
      )
      await assert.rejects(
        infer(pair.client, addr(), {
          model: add.sha256,
          inputs: { a: f32(6, [2, 3]), b: f32(6, [2, 3]) },
          outputNames: ['nope'],
        }),
        { name: 'InvalidInferenceInputError' },
      )
      await good()
    })

    it('tensor bytes that do not match dims x dtype, or an unsupported dtype on the wire: INVALID_INPUT', async () => {
      const wrongBytes: TensorData = { dtype: 'float32', dims: [2, 3], data: new Uint8Array(20) }
      const hugeDims: TensorData = { dtype: 'float32', dims: [2 ** 40, 2 ** 20], data: new Uint8Array(24) }
      for (const bad of [wrongBytes, hugeDims]) {
        await assert.rejects(
          infer(pair.client, addr(), { model: add.sha256, inputs: { a: bad, b: f32(6, [2, 3]) } }),
          (err: Error & { code?: string }) => ['INVALID_INFERENCE_INPUT', 'TOO_LARGE'].includes(err.code ?? ''),
        )
      }
      const request = InferRequest.encode({
        modelSha256: Buffer.from(add.sha256, 'hex'),
        inputs: [{ name: 'a', dataType: 'UINT8' as never, dims: [2n, 3n], rawData: new Uint8Array(3), stringData: [] }],
        outputNames: [],
        deadlineMs: 0,
      })
      // Rewrite data_type (field 2, varint) from UINT8 (2) to INT4 (22), which protons will not encode for us.
      const at = Buffer.from(request).indexOf(Buffer.from([0x10, 0x02]))
      assert.ok(at > 0)
      request[at + 1] = 22
      const response = await rawExchange(request)
      assert.ok(
        [ComputeStatus.INVALID_INPUT, ComputeStatus.MALFORMED_REQUEST].includes(response.status),
        `status ${response.status}`,
      )
      await good()
    })

    it('a request over the size limit: TOO_LARGE, answered without reading it all', async () => {
      const big = f32(2 * 1024 * 1024, [2 * 1024 * 1024])
      // On a stream of its own. (On a long-lived stream whose window has grown, the provider's answer can lose the
      // race with the reset that ends the stream; the client then sees UNEXPECTED_END.)
      const request = encodeInferRequest({ model: add.sha256, inputs: { a: big, b: big } })
      await assert.rejects(exchange(pair.client, addr(), request), { name: 'TooLargeError', code: 'TOO_LARGE' })
      await assert.rejects(
        infer(pair.client, addr(), { model: add.sha256, inputs: { a: big, b: big } }),
        (err: Error & { code?: string }) => ['TOO_LARGE', 'UNEXPECTED_END'].includes(err.code ?? ''),
      )
      await good()
    })

    it('garbage frames: MALFORMED_REQUEST', async () => {
      const garbage = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x99, 0x01])
      const response = await rawExchange(garbage)
      assert.equal(response.status, ComputeStatus.MALFORMED_REQUEST)
      const shortHash = InferRequest.encode({
        modelSha256: new Uint8Array(5),
        inputs: [],
        outputNames: [],
        deadlineMs: 0,
      })
      assert.equal((await rawExchange(shortHash)).status, ComputeStatus.MALFORMED_REQUEST)
      await good()
    })

    it('a job past its deadline: DEADLINE_EXCEEDED', async () => {
      const n = 512
      const x = f32(n * n, [n, n])
      await assert.rejects(infer(pair.client, addr(), { model: slow.sha256, inputs: { a: x, b: x }, deadlineMs: 20 }), {
        name: 'DeadlineExceededError',
        code: 'DEADLINE_EXCEEDED',
      })
      await good()
    })

    it('a client that disconnects mid-job: the job is aborted and the pool serves others', async () => {
      const n = 512
      const x = f32(n * n, [n, n])
      // Jobs that earlier tests aborted may still occupy a worker: start from an idle pool.
      const idle = Date.now() + 10_000
      while (pair.compute.pool.stats.busy > 0 && Date.now() < idle) await new Promise((r) => setTimeout(r, 10))
      const failedBefore = pair.compute.pool.stats.failed
      const controller = new AbortController()
      // exchange() takes a stream of its own: aborting it resets the stream, as a client that vanishes would.
      const request = encodeInferRequest({ model: slow.sha256, inputs: { a: x, b: x } })
      const job = exchange(pair.client, addr(), request, { signal: controller.signal })
      job.catch(() => {})
      // Abort once a worker runs it (not after a fixed time: a fast machine finished it within 100 ms).
      const running = Date.now() + 5000
      while (pair.compute.pool.stats.busy === 0 && Date.now() < running) {
        await new Promise((resolve) => setTimeout(resolve, 1))
      }
      assert.ok(pair.compute.pool.stats.busy > 0, 'the job never started')
      controller.abort()
      await assert.rejects(job)
      await good()
      // The provider saw the stream go and failed the job rather than computing it for nobody.
      const deadline = Date.now() + 5000
      while (pair.compute.pool.stats.failed === failedBefore && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      assert.ok(pair.compute.pool.stats.failed > failedBefore)
    })

    it('a crashed worker fails only its job (WORKER_CRASHED) and is replaced', async () => {
      const crashPair = await startPair({
        workers: 1,
        maxMessageBytes: 64 * 1024 * 1024,
        // A worker whose V8 heap cannot hold the job's strings dies, as a real out-of-memory worker would.
        resourceLimits: { maxOldGenerationSizeMb: 24, maxYoungGenerationSizeMb: 4 },
      })
      try {
        const record = await crashPair.compute.store.add(identityModel(['string']), { name: 'identity-string' })
        const peer = crashPair.provider.getMultiaddrs()
        const many = new Tensor(
          'string',
          Array.from({ length: 400_000 }, (_, i) => `${i}`.padEnd(100, 'x')),
          [400_000],
        )
        await assert.rejects(infer(crashPair.client, peer, { model: record.sha256, inputs: { x_string: many } }), {
          name: 'WorkerCrashedError',
          code: 'WORKER_CRASHED',
        })
        const small = new Tensor('string', ['still', 'serving'], [2])
        const { outputs } = await infer(crashPair.client, peer, { model: record.sha256, inputs: { x_string: small } })
        assert.deepEqual(outputs.y_string!.data, ['still', 'serving'])
        assert.equal(crashPair.compute.pool.stats.crashed, 1)
        assert.equal(crashPair.compute.pool.stats.workers, 1)
      } finally {
        await crashPair.stop()
      }
    })

    it('a full queue answers BUSY and the queued jobs still complete', async () => {
      const busyPair = await startPair({ workers: 1, maxQueue: 1 })
      try {
        const record = await busyPair.compute.store.add(matmulModel(48), { name: 'slow' })
        const peer = busyPair.provider.getMultiaddrs()
        const n = 256
        const x = f32(n * n, [n, n])
        const results = await Promise.allSettled(
          Array.from({ length: 5 }, () =>
            infer(busyPair.client, peer, { model: record.sha256, inputs: { a: x, b: x } }),
          ),
        )
        const busy = results.filter((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'BUSY')
        const ok = results.filter((r) => r.status === 'fulfilled')
        assert.equal(busy.length + ok.length, 5, 'every job either ran or was refused as BUSY')
        assert.ok(busy.length >= 1, 'at least one BUSY')
        assert.ok(ok.length >= 2, 'the running and the queued job completed')
      } finally {
        await busyPair.stop()
      }
    })

    it('stopping the provider answers jobs in flight with SHUTTING_DOWN', async () => {
      const stopping = await startPair({ workers: 1 })
      try {
        const record = await stopping.compute.store.add(matmulModel(48), { name: 'slow' })
        const client = createInferClient(stopping.client, stopping.provider.getMultiaddrs())
        const n = 512
        const x = f32(n * n, [n, n])
        const settled = Promise.allSettled(
          [1, 2].map(() => client.infer({ model: record.sha256, inputs: { a: x, b: x } })),
        )
        // Stop while one job runs and the other waits (not after a fixed sleep: a fast machine finishes the first).
        while (stopping.compute.pool.stats.busy < 1 || stopping.compute.pool.stats.queued < 1) {
          await new Promise((resolve) => setTimeout(resolve, 2))
        }
        await stopping.compute.stop()
        const outcomes = await settled
        for (const outcome of outcomes) {
          assert.equal(outcome.status, 'rejected')
          assert.equal((outcome as PromiseRejectedResult).reason.code, 'SHUTTING_DOWN')
        }
        await client.close()
      } finally {
        await stopping.stop()
      }
    })

    it('a provider out of free mode refuses with NOT_AUTHORIZED', async () => {
      const closed = await startPair({ freeMode: false })
      try {
        const record = await closed.compute.store.add(addModel())
        await assert.rejects(
          infer(closed.client, closed.provider.getMultiaddrs(), {
            model: record.sha256,
            inputs: { a: f32(6, [2, 3]), b: f32(6, [2, 3]) },
          }),
          { name: 'NotAuthorizedError', code: 'NOT_AUTHORIZED' },
        )
      } finally {
        await closed.stop()
      }
    })
  })

  it('several workers with their own sessions of several models stay up under concurrent load', async () => {
    const loaded = await startPair({ workers: 3, intraOpThreads: 1 })
    try {
      const models = {
        add: await loaded.compute.store.add(addModel()),
        matmul: await loaded.compute.store.add(matmulModel(4)),
        identity: await loaded.compute.store.add(identityModel(['float32', 'int64', 'string'])),
      }
      const peer = loaded.provider.getMultiaddrs()
      const client = createInferClient(loaded.client, peer)
      const jobs = Array.from({ length: 90 }, async (_, i) => {
        const via =
          i % 2 === 0 ? client.infer.bind(client) : (p: Parameters<typeof infer>[2]) => infer(loaded.client, peer, p)
        if (i % 3 === 0) {
          const a = new Tensor('float32', new Float32Array(6).fill(i), [2, 3])
          const { outputs } = await via({ model: models.add.sha256, inputs: { a, b: a } })
          assert.equal((outputs.y!.data as Float32Array)[5], 2 * i)
        } else if (i % 3 === 1) {
          const n = 64
          const eye = new Float32Array(n * n)
          for (let k = 0; k < n; k++) eye[k * n + k] = 1
          const a = new Tensor('float32', new Float32Array(n * n).fill(i), [n, n])
          const { outputs } = await via({
            model: models.matmul.sha256,
            inputs: { a, b: new Tensor('float32', eye, [n, n]) },
          })
          assert.equal((outputs.y!.data as Float32Array)[n * n - 1], i)
        } else {
          const { outputs } = await via({
            model: models.identity.sha256,
            inputs: {
              x_float32: new Tensor('float32', Float32Array.from([i]), [1]),
              x_int64: new Tensor('int64', BigInt64Array.from([BigInt(i) * 10n ** 15n]), [1]),
              x_string: new Tensor('string', [`job ${i}`], [1]),
            },
          })
          assert.deepEqual(outputs.y_string!.data, [`job ${i}`])
          assert.equal((outputs.y_int64!.data as BigInt64Array)[0], BigInt(i) * 10n ** 15n)
        }
      })
      await Promise.all(jobs)
      await client.close()
      assert.equal(loaded.compute.pool.stats.crashed, 0)
      assert.equal(loaded.compute.pool.stats.workers, 3)
    } finally {
      await loaded.stop()
    }
  })

  describe('a pipelining InferClient', () => {
    it('runs concurrent requests on one stream, each answered by id', async () => {
      const node = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
      const client = createInferClient(node, addr())
      try {
        const results = await Promise.all(
          Array.from({ length: 20 }, async (_, i) => {
            const a = new Tensor('float32', new Float32Array(6).fill(i), [2, 3])
            const b = new Tensor('float32', new Float32Array(6).fill(1000), [2, 3])
            const { outputs } = await client.infer({ model: add.sha256, inputs: { a, b } })
            return (outputs.y!.data as Float32Array)[0]
          }),
        )
        assert.deepEqual(
          results,
          Array.from({ length: 20 }, (_, i) => 1000 + i),
        )
        const streams = node
          .getConnections(pair.provider.peerId)
          .flatMap((c) => c.streams)
          .filter((st) => st.protocol === INFER_PROTOCOL)
        assert.equal(streams.length, 1, 'one infer stream carried all 20 requests')
      } finally {
        await client.close()
        await node.stop()
      }
    })

    it('cancels one request without disturbing the others, and the provider stops its job', async () => {
      const client = createInferClient(pair.client, addr())
      try {
        const n = 512
        const x = new Tensor('float32', new Float32Array(n * n), [n, n])
        const failedBefore = pair.compute.pool.stats.failed
        const controller = new AbortController()
        const slowJob = client.infer({ model: slow.sha256, inputs: { a: x, b: x } }, { signal: controller.signal })
        const a = new Tensor('float32', new Float32Array(6).fill(1), [2, 3])
        const quick = client.infer({ model: add.sha256, inputs: { a, b: a } })
        setTimeout(() => controller.abort(), 50)
        await assert.rejects(slowJob, { name: 'AbortedError' })
        assert.equal(((await quick).outputs.y!.data as Float32Array)[0], 2)
        const again = await client.infer({ model: add.sha256, inputs: { a, b: a } })
        assert.equal((again.outputs.y!.data as Float32Array)[0], 2)
        const deadline = Date.now() + 5000
        while (pair.compute.pool.stats.failed === failedBefore && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        assert.ok(pair.compute.pool.stats.failed > failedBefore, 'the cancelled job was aborted on the provider')
      } finally {
        await client.close()
      }
    })

    it('an oversized request fails as TOO_LARGE and the client recovers on a fresh stream', async () => {
      const client = createInferClient(pair.client, addr())
      try {
        const big = new Tensor('float32', new Float32Array(2 * 1024 * 1024), [2 * 1024 * 1024])
        await assert.rejects(client.infer({ model: add.sha256, inputs: { a: big, b: big } }), { name: 'TooLargeError' })
        const a = new Tensor('float32', new Float32Array(6).fill(4), [2, 3])
        const { outputs } = await client.infer({ model: add.sha256, inputs: { a, b: a } })
        assert.equal((outputs.y!.data as Float32Array)[0], 8)
      } finally {
        await client.close()
      }
    })
  })

  describe('a pool of pipelined streams (createInferClients)', () => {
    const inferStreams = (node: Pair['client']) =>
      node
        .getConnections(pair.provider.peerId)
        .flatMap((c) => c.streams)
        .filter((st) => st.protocol === INFER_PROTOCOL && st.status === 'open')

    const addOnce = async (clients: ReturnType<typeof createInferClients>, i: number): Promise<number> => {
      const a = new Tensor('float32', new Float32Array(6).fill(i), [2, 3])
      const { outputs } = await clients.infer(pair.provider.peerId, { model: add.sha256, inputs: { a, b: a } })
      return (outputs.y!.data as Float32Array)[0]!
    }

    it('shares one stream per provider among concurrent calls, and its owner closes it', async () => {
      const node = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
      await node.peerStore.merge(pair.provider.peerId, { multiaddrs: addr() })
      const clients = createInferClients(node)
      try {
        const results = await Promise.all(Array.from({ length: 12 }, async (_, i) => addOnce(clients, i)))
        assert.deepEqual(
          results,
          Array.from({ length: 12 }, (_, i) => 2 * i),
        )
        assert.equal(clients.size, 1)
        assert.equal(inferStreams(node).length, 1, 'one infer stream carried every call')
        await clients.close()
        assert.equal(clients.size, 0)
        const deadline = Date.now() + 2000
        while (inferStreams(node).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
        assert.equal(inferStreams(node).length, 0, 'closing the pool closed its stream')
      } finally {
        await node.stop()
      }
    })

    it('closes a stream idle for idleMs; pools are separate objects, each with its own stream', async () => {
      const node = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
      await node.peerStore.merge(pair.provider.peerId, { multiaddrs: addr() })
      const first = createInferClients(node, { idleMs: 100 })
      const second = createInferClients(node)
      try {
        assert.equal(await addOnce(first, 1), 2)
        assert.equal(await addOnce(second, 2), 4)
        assert.equal(inferStreams(node).length, 2)
        const deadline = Date.now() + 3000
        while (first.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
        assert.equal(first.size, 0, 'the idle stream was dropped')
        assert.equal(second.size, 1)
        assert.equal(await addOnce(first, 3), 6, 'and a new one opens on the next call')
      } finally {
        await first.close()
        await second.close()
        await node.stop()
      }
    })
  })

  /** Send raw bytes as one length-prefixed frame and read the InferResponse. */
  async function rawExchange(frame: Uint8Array): Promise<InferResponse> {
    const stream = await pair.client.dialProtocol(addr(), INFER_PROTOCOL)
    await lpStream(stream).write(frame)
    const response = await pbStream(stream).read(InferResponse)
    await stream.close()
    return response
  }

  it('exchange() sends a pre-encoded request (what the bench uses)', async () => {
    const a = new Tensor('float32', new Float32Array(6).fill(2), [2, 3])
    const encode = (t: Tensor): ReturnType<typeof InferRequest.decode>['inputs'][number] => ({
      name: '',
      dataType: 'FLOAT' as never,
      dims: t.dims.map(BigInt),
      rawData: new Uint8Array((t.data as Float32Array).buffer as ArrayBuffer),
      stringData: [],
    })
    const response = await exchange(pair.client, addr(), {
      modelSha256: Buffer.from(add.sha256, 'hex'),
      inputs: [
        { ...encode(a), name: 'a' },
        { ...encode(a), name: 'b' },
      ],
      outputNames: [],
      deadlineMs: 0,
    })
    assert.equal(response.status, ComputeStatus.OK)
    assert.equal(response.outputs[0]!.rawData.byteLength, 24)
  })
})
