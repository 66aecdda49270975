import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { pbStream } from '@libp2p/utils'
import { Tensor } from 'onnxruntime-node'
import {
  type AdmissionRequest,
  ComputeStatus,
  infer,
  type JobOutcome,
  MODEL_PROTOCOL,
  pushModel,
  type TransferProgress,
} from '../../src/compute/index.js'
import { ModelChunk, ModelReply, ModelRequest } from '../../src/compute/pb/compute.js'
import { type Pair, startPair } from './helpers.js'
import { addModel, identityModel } from './onnx-builder.js'

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

describe('model transfer over /parkbench/model/1.0.0', () => {
  let pair: Pair
  before(async () => {
    pair = await startPair({ maxModelBytes: 2 * 1024 * 1024 })
  })
  after(async () => {
    await pair.stop()
  })
  const addr = (): ReturnType<Pair['provider']['getMultiaddrs']> => pair.provider.getMultiaddrs()
  const modelFiles = async (p: Pair): Promise<string[]> => (await readdir(join(p.dataDir, 'models'))).sort()

  it('pushes a model in chunks with progress, stores it by hash, and a second push sends nothing', async () => {
    const model = addModel(1024 * 1024 + 1000) // five 256 KiB chunks
    const events: TransferProgress[] = []
    const result = await pushModel(pair.client, addr(), model, { name: 'matmul', onProgress: (e) => events.push(e) })
    assert.equal(result.sha256, sha(model))
    assert.equal(result.alreadyStored, false)
    assert.deepEqual(
      [...new Set(events.map((e) => e.type))],
      ['model:hashing', 'model:sending', 'model:verifying', 'model:done'],
    )
    assert.equal(events.at(-1)!.bytes, model.byteLength)
    const record = await pair.compute.store.get(result.sha256)
    assert.equal(events.filter((e) => e.type === 'model:sending').length, 5)
    assert.equal(record?.name, 'matmul')
    assert.equal(record?.sizeBytes, model.byteLength)
    assert.deepEqual(
      record?.inputs.map((i) => [i.name, i.dtype, i.dims]),
      [
        ['a', 'float32', [2, 3]],
        ['b', 'float32', [2, 3]],
      ],
    )
    const again = await pushModel(pair.client, addr(), model)
    assert.equal(again.alreadyStored, true)
  })

  it('pushes from a file path, then the model serves inference', async () => {
    const path = join(pair.dataDir, 'add.onnx')
    await writeFile(path, addModel())
    const { sha256 } = await pushModel(pair.client, addr(), path)
    const a = new Tensor('float32', new Float32Array(6).fill(3), [2, 3])
    const { outputs } = await infer(pair.client, addr(), { model: sha256, inputs: { a, b: a } })
    assert.deepEqual([...(outputs.y!.data as Float32Array)], [6, 6, 6, 6, 6, 6])
  })

  it('refuses a model over the size limit before any byte is sent (TOO_LARGE)', async () => {
    const big = new Uint8Array(3 * 1024 * 1024).fill(7)
    const events: TransferProgress[] = []
    await assert.rejects(pushModel(pair.client, addr(), big, { onProgress: (e) => events.push(e) }), {
      name: 'TooLargeError',
      code: 'TOO_LARGE',
    })
    assert.ok(!events.some((e) => e.type === 'model:sending'))
    assert.ok(!(await modelFiles(pair)).some((f) => f.startsWith('.tmp')))
  })

  it('refuses a corrupt model (INVALID_MODEL) and keeps nothing of it', async () => {
    const garbage = randomBytes(3000)
    await assert.rejects(pushModel(pair.client, addr(), garbage), { name: 'InvalidModelError', code: 'INVALID_MODEL' })
    assert.equal(await pair.compute.store.has(sha(garbage)), false)
    assert.ok(!(await modelFiles(pair)).some((f) => f.startsWith('.tmp') || f.startsWith(sha(garbage))))
    await assert.rejects(pair.compute.store.add(garbage), { name: 'InvalidModelError' })
  })

  it('checks the hash before storing (HASH_MISMATCH)', async () => {
    const real = identityModel(['float32'])
    const announced = sha(randomBytes(32))
    const stream = await pair.client.dialProtocol(addr(), MODEL_PROTOCOL)
    const pb = pbStream(stream)
    await pb.write(
      {
        kind: ModelRequest.Kind.PUSH,
        sha256: Buffer.from(announced, 'hex'),
        sizeBytes: BigInt(real.byteLength),
        name: 'liar',
      },
      ModelRequest,
    )
    assert.equal((await pb.read(ModelReply)).status, ComputeStatus.OK)
    await pb.write({ data: real }, ModelChunk)
    const final = await pb.read(ModelReply)
    await stream.close()
    assert.equal(final.status, ComputeStatus.HASH_MISMATCH)
    assert.equal(await pair.compute.store.has(announced), false)
  })

  it('refuses more bytes than announced (TOO_LARGE) and empty or garbage frames (MALFORMED_REQUEST)', async () => {
    const model = identityModel(['int32'])
    const stream = await pair.client.dialProtocol(addr(), MODEL_PROTOCOL)
    const pb = pbStream(stream)
    await pb.write(
      { kind: ModelRequest.Kind.PUSH, sha256: Buffer.from(sha(model), 'hex'), sizeBytes: 10n, name: 'short' },
      ModelRequest,
    )
    assert.equal((await pb.read(ModelReply)).status, ComputeStatus.OK)
    await pb.write({ data: model }, ModelChunk)
    assert.equal((await pb.read(ModelReply)).status, ComputeStatus.TOO_LARGE)
    await stream.close()

    const raw = await pair.client.dialProtocol(addr(), MODEL_PROTOCOL)
    const rawPb = pbStream(raw)
    await rawPb.write(
      { kind: ModelRequest.Kind.PUSH, sha256: new Uint8Array(3), sizeBytes: 10n, name: '' },
      ModelRequest,
    )
    assert.equal((await rawPb.read(ModelReply)).status, ComputeStatus.MALFORMED_REQUEST)
    await raw.close()
  })

  it('a provider fetches a model by hash from a peer that has it; an unknown hash is MODEL_NOT_FOUND', async () => {
    const other = await startPair()
    try {
      const model = addModel()
      await pair.compute.store.add(model, { name: 'add' })
      const events: TransferProgress[] = []
      const record = await other.compute.fetchModel(addr(), sha(model), { onProgress: (e) => events.push(e) })
      assert.equal(record.sha256, sha(model))
      assert.ok(events.some((e) => e.type === 'model:receiving'))
      assert.equal(await other.compute.store.has(sha(model)), true)
      const a = new Tensor('float32', new Float32Array(6).fill(1), [2, 3])
      const { outputs } = await infer(other.client, other.provider.getMultiaddrs(), {
        model: record.sha256,
        inputs: { a, b: a },
      })
      assert.equal((outputs.y!.data as Float32Array)[0], 2)
      await assert.rejects(other.compute.fetchModel(addr(), 'cd'.repeat(32)), { name: 'ModelNotFoundError' })
    } finally {
      await other.stop()
    }
  })

  it('admits pushes, fetches and jobs through the one hook, and reports each job when it ends', async () => {
    const asked: Array<Pick<AdmissionRequest, 'kind' | 'modelSha256'> & { peer: string }> = []
    const done: JobOutcome[] = []
    let allow = false
    const gated = await startPair({
      admit: async (request) => {
        asked.push({ kind: request.kind, modelSha256: request.modelSha256, peer: request.peer.toString() })
        if (!allow) return { allowed: false, status: ComputeStatus.NOT_AUTHORIZED, reason: 'no lease' }
        return { allowed: true, onJobDone: (outcome) => done.push(outcome) }
      },
    })
    try {
      const model = addModel()
      const peer = gated.provider.getMultiaddrs()
      await assert.rejects(pushModel(gated.client, peer, model), { name: 'NotAuthorizedError' })
      assert.equal(await gated.compute.store.has(sha(model)), false)
      allow = true
      await pushModel(gated.client, peer, model)
      const a = new Tensor('float32', new Float32Array(6), [2, 3])
      await infer(gated.client, peer, { model: sha(model), inputs: { a, b: a } })
      await assert.rejects(infer(gated.client, peer, { model: sha(model), inputs: { a } }), {
        name: 'InvalidInferenceInputError',
      })
      assert.deepEqual(
        asked.map((r) => r.kind),
        ['model-push', 'model-push', 'infer', 'infer'],
      )
      assert.ok(asked.every((r) => r.peer === gated.client.peerId.toString() && r.modelSha256 === sha(model)))
      assert.deepEqual(
        done.map((d) => d.status),
        [ComputeStatus.OK, ComputeStatus.OK, ComputeStatus.INVALID_INPUT],
      )
      assert.ok(done[1]!.runMs > 0)
    } finally {
      await gated.stop()
    }
  })
})
