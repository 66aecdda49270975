import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { lpStream } from '@libp2p/utils'
import { Tensor } from 'onnxruntime-node'
import { ComputeStatus, INFER_PROTOCOL, infer, type ModelRecord } from '../../src/compute/index.js'
import { InferResponse } from '../../src/compute/pb/compute.js'
import { createMessageStream } from '../../src/net/index.js'
import { type Pair, startPair } from './helpers.js'
import { addModel } from './onnx-builder.js'

/** A protobuf writer for frames protons would never produce: what an outside client following proto3 may send. */
function varint(value: bigint | number): number[] {
  let v = BigInt.asUintN(64, BigInt(value))
  const out: number[] = []
  while (v >= 0x80n) {
    out.push(Number((v & 0x7fn) | 0x80n))
    v >>= 7n
  }
  out.push(Number(v))
  return out
}
const len = (field: number, bytes: number[] | Uint8Array): number[] => [
  ...varint((field << 3) | 2),
  ...varint(bytes.length),
  ...bytes,
]
const num = (field: number, value: bigint | number): number[] => [...varint(field << 3), ...varint(value)]

interface RawTensor {
  name: string
  dataType: number
  dims: Array<bigint | number>
  packed?: boolean
  raw: Uint8Array
}
function tensor(t: RawTensor): number[] {
  const dims =
    t.packed === true
      ? len(
          3,
          t.dims.flatMap((d) => varint(d)),
        )
      : t.dims.flatMap((d) => num(3, d))
  return [...len(1, [...Buffer.from(t.name)]), ...num(2, t.dataType), ...dims, ...len(4, t.raw)]
}
function request(model: ModelRecord, id: number, inputs: RawTensor[]): Uint8Array {
  return Uint8Array.from([
    ...len(1, Buffer.from(model.sha256, 'hex')),
    ...inputs.flatMap((t) => len(2, tensor(t))),
    ...num(5, id),
  ])
}

const RAW = { encode: (bytes: Uint8Array) => bytes }
const FLOAT = 1
const f32 = (n: number): Uint8Array => new Uint8Array(n * 4)

describe('infer against hostile or unusual clients', () => {
  let pair: Pair
  let add: ModelRecord
  before(async () => {
    pair = await startPair({ workers: 1 })
    add = await pair.compute.store.add(addModel(), { name: 'add' })
  })
  after(async () => {
    await pair.stop()
  })

  /** Send frames pipelined on one stream and collect one response per frame, by id. */
  async function pipeline(frames: Uint8Array[]): Promise<Map<number, InferResponse>> {
    const stream = await pair.client.dialProtocol(pair.provider.getMultiaddrs(), INFER_PROTOCOL)
    const messages = createMessageStream(stream, { maxDataLength: 1 << 20 })
    for (const frame of frames) await messages.write(frame, RAW)
    const responses = new Map<number, InferResponse>()
    while (responses.size < frames.length) {
      const response = await messages.read(InferResponse, { signal: AbortSignal.timeout(10_000) })
      responses.set(response.id, response)
    }
    await messages.close()
    return responses
  }

  it('answers each bad tensor under its own id and keeps the stream: every pipelined request is answered', async () => {
    const good = (id: number, packed = false): Uint8Array =>
      request(add, id, [
        { name: 'a', dataType: FLOAT, dims: [2, 3], packed, raw: f32(6) },
        { name: 'b', dataType: FLOAT, dims: [2, 3], packed, raw: f32(6) },
      ])
    const withA = (id: number, a: Omit<RawTensor, 'name'>): Uint8Array =>
      request(add, id, [
        { name: 'a', ...a },
        { name: 'b', dataType: FLOAT, dims: [2, 3], raw: f32(6) },
      ])
    const responses = await pipeline([
      withA(1, { dataType: 16, dims: [2, 3], raw: new Uint8Array(12) }), // BFLOAT16
      withA(2, { dataType: 23, dims: [2, 3], raw: new Uint8Array(3) }), // FLOAT4E2M1
      withA(3, { dataType: 99, dims: [2, 3], raw: f32(6) }), // not an ONNX type at all
      withA(4, { dataType: FLOAT, dims: [2n ** 53n, 0], raw: new Uint8Array(0) }),
      withA(5, { dataType: FLOAT, dims: [2n ** 64n - 1n, 2], raw: f32(6) }),
      good(6, true), // packed dims, as proto3 encoders write repeated scalars by default
      good(7),
      // A frame whose second tensor is cut short, yet whose id survives.
      Uint8Array.from([...len(1, Buffer.from(add.sha256, 'hex')), ...len(2, [0x0a, 0x09, 0x61]), ...num(5, 8)]),
    ])
    const status = (id: number): string => responses.get(id)?.status ?? 'missing'
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map(status), [
      ComputeStatus.INVALID_INPUT,
      ComputeStatus.INVALID_INPUT,
      ComputeStatus.INVALID_INPUT,
      ComputeStatus.INVALID_INPUT,
      ComputeStatus.INVALID_INPUT,
      ComputeStatus.OK,
      ComputeStatus.OK,
      ComputeStatus.MALFORMED_REQUEST,
    ])
    assert.deepEqual(responses.get(6)?.outputs[0]?.dims, [2n, 3n])
  })

  it('answers a request cut short by the client closing its side with id 0 MALFORMED_REQUEST', async () => {
    const whole = request(add, 3, [
      { name: 'a', dataType: FLOAT, dims: [2, 3], raw: f32(6) },
      { name: 'b', dataType: FLOAT, dims: [2, 3], raw: f32(6) },
    ])
    const stream = await pair.client.dialProtocol(pair.provider.getMultiaddrs(), INFER_PROTOCOL)
    const messages = createMessageStream(stream, { maxDataLength: 1 << 20 })
    // The length prefix promises the whole frame; half of it comes, then the client's end.
    stream.send(Uint8Array.from([...varint(whole.length), ...whole.subarray(0, whole.length >> 1)]))
    await stream.close()
    const response = await messages.read(InferResponse, { signal: AbortSignal.timeout(10_000) })
    assert.equal(response.status, ComputeStatus.MALFORMED_REQUEST)
    assert.equal(response.id, 0)
    assert.match(response.message, /cut short/)
  })

  it('a shape whose element count overflows is INVALID_INPUT (its bytes cannot match), not TOO_LARGE', async () => {
    const responses = await pipeline([
      request(add, 1, [
        { name: 'a', dataType: FLOAT, dims: [2 ** 40, 2 ** 20], raw: new Uint8Array(24) },
        { name: 'b', dataType: FLOAT, dims: [2, 3], raw: f32(6) },
      ]),
    ])
    assert.equal(responses.get(1)?.status, ComputeStatus.INVALID_INPUT)
  })

  it('never echoes invalid UTF-8 or unbounded peer strings in a message', async () => {
    const strict = new TextDecoder('utf-8', { fatal: true })
    // A lone surrogate as a client's UTF-8 encoder might write it (CESU-8: ED A0 80), then a long name.
    const loneSurrogate = [0xed, 0xa0, 0x80]
    const names = [[0x78, ...loneSurrogate, 0x79], [...Buffer.from('n'.repeat(100_000))]]
    for (const name of names) {
      const frame = Uint8Array.from([
        ...len(1, Buffer.from(add.sha256, 'hex')),
        ...len(2, [...len(1, name), ...num(2, FLOAT), ...num(3, 1), ...len(4, f32(1))]),
        ...num(5, 1),
      ])
      const stream = await pair.client.dialProtocol(pair.provider.getMultiaddrs(), INFER_PROTOCOL)
      const lp = lpStream(stream)
      await lp.write(frame)
      // Read the raw frame: a strict proto3 parser rejects a string field that is not UTF-8.
      const raw = (await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray()
      await stream.close()
      const response = InferResponse.decode(raw)
      assert.equal(response.status, ComputeStatus.INVALID_INPUT)
      const at = Buffer.from(raw).indexOf(Buffer.from(response.message.slice(0, 8)))
      assert.ok(at >= 0)
      const messageBytes = Buffer.byteLength(response.message)
      assert.doesNotThrow(() => strict.decode(raw.subarray(at, at + messageBytes)), 'message is valid UTF-8')
      assert.ok(response.message.length <= 1024, `message of ${response.message.length} characters`)
    }
    // The provider is fine.
    const a = new Tensor('float32', new Float32Array(6).fill(1), [2, 3])
    const { outputs } = await infer(pair.client, pair.provider.getMultiaddrs(), {
      model: add.sha256,
      inputs: { a, b: a },
    })
    assert.equal((outputs.y!.data as Float32Array)[0], 2)
  })

  it('answers an oversized request TOO_LARGE on a long-lived pipelined stream (the answer is not lost to a reset)', async () => {
    const small = await startPair({ maxMessageBytes: 4 * 1024 * 1024 })
    try {
      const model = await small.compute.store.add(addModel())
      const peer = small.provider.getMultiaddrs()
      const a = new Tensor('float32', new Float32Array(6).fill(1), [2, 3])
      const big = new Tensor('float32', new Float32Array(2 * 1024 * 1024), [2 * 1024 * 1024])
      for (let i = 0; i < 5; i++) {
        // Traffic on the shared stream first, so its window has grown.
        await Promise.all(
          Array.from({ length: 8 }, () => infer(small.client, peer, { model: model.sha256, inputs: { a, b: a } })),
        )
        await assert.rejects(infer(small.client, peer, { model: model.sha256, inputs: { a: big, b: big } }), {
          code: 'TOO_LARGE',
        })
      }
    } finally {
      await small.stop()
    }
  })
})
