import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import type { Stream } from '@libp2p/interface'
import { Tensor } from 'onnxruntime-node'
import { Uint8ArrayList } from 'uint8arraylist'
import { ComputeStatus, infer, MODEL_PROTOCOL, pushModel } from '../../src/compute/index.js'
import { ModelChunk, ModelReply, ModelRequest } from '../../src/compute/pb/compute.js'
import { createMessageStream, createNode, type MessageStream, type ParkbenchNode } from '../../src/net/index.js'
import { type Pair, startPair } from './helpers.js'
import { addModel, identityModel, padModel } from './onnx-builder.js'

const sha = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(createHash('sha256').update(bytes).digest())

/** A client that speaks /parkbench/model/1.0.0 by hand, as an outside implementation following the README would. */
async function openRaw(node: ParkbenchNode, pair: Pair): Promise<{ stream: Stream; messages: MessageStream }> {
  const stream = await node.dialProtocol(pair.provider.getMultiaddrs(), MODEL_PROTOCOL)
  return { stream, messages: createMessageStream(stream, { maxDataLength: 4096 }) }
}

const readReply = (messages: MessageStream): Promise<ModelReply> =>
  messages.read(ModelReply, { signal: AbortSignal.timeout(5000) })

/** True once `done(stream)` holds, false if it still does not after `ms`. */
async function within(ms: number, done: () => boolean): Promise<boolean> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (done()) return true
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return false
}

/**
 * The provider closed its side at once after answering, and did not leave the stream open for a peer that keeps
 * its own side open: within its linger (2 s) the stream is gone.
 */
async function closedByProvider(stream: Stream): Promise<void> {
  assert.ok(await within(1000, () => stream.remoteWriteStatus === 'closed' || stream.status !== 'open'), 'FIN')
  assert.ok(await within(4000, () => stream.status !== 'open'), 'the provider left the stream open')
}

describe('model transfer against hostile peers', () => {
  let pair: Pair
  let attacker: ParkbenchNode
  let lessee: ParkbenchNode
  before(async () => {
    attacker = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    lessee = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    pair = await startPair({
      maxModelBytes: 96 * 1024 * 1024,
      // A paid provider: only `lessee` and the pair's own client hold a lease.
      admit: async (request) =>
        request.peer.equals(attacker.peerId)
          ? { allowed: false, status: ComputeStatus.NOT_AUTHORIZED, reason: 'no lease' }
          : { allowed: true },
    })
  })
  after(async () => {
    await pair.stop()
    await Promise.all([attacker.stop(), lessee.stop()])
  })

  it('streams that send a byte and stall hold no transfer slot: a lessee still pushes at once', async () => {
    const stalled: Stream[] = []
    for (let i = 0; i < 6; i++) {
      const stream = await attacker.dialProtocol(pair.provider.getMultiaddrs(), MODEL_PROTOCOL)
      stream.send(Uint8Array.from([0x05]))
      stalled.push(stream)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
    const model = identityModel(['float16'])
    const pushed = await pushModel(lessee, pair.provider.getMultiaddrs(), model, { signal: AbortSignal.timeout(5000) })
    assert.equal(pushed.alreadyStored, false)
    for (const s of stalled) s.abort(new Error('done'))
  })

  it('a peer without a lease is refused before it can take a slot, and the stream is closed at once', async () => {
    const { stream, messages } = await openRaw(attacker, pair)
    const model = addModel()
    await messages.write(
      { kind: ModelRequest.Kind.PUSH, sha256: sha(model), sizeBytes: BigInt(model.byteLength), name: 'x' },
      ModelRequest,
    )
    assert.equal((await readReply(messages)).status, ComputeStatus.NOT_AUTHORIZED)
    await closedByProvider(stream)
  })

  it('one transfer per peer: a second push from the same peer is BUSY at once, other peers still push', async () => {
    const big = padModel(addModel(), 2 * 1024 * 1024)
    // The first push is admitted and then stalls after its request: it holds this peer's one slot.
    const first = await openRaw(lessee, pair)
    await first.messages.write(
      { kind: ModelRequest.Kind.PUSH, sha256: sha(big), sizeBytes: BigInt(big.byteLength), name: 'first' },
      ModelRequest,
    )
    assert.equal((await readReply(first.messages)).status, ComputeStatus.OK)
    const second = await openRaw(lessee, pair)
    const other = identityModel(['int8'])
    const started = Date.now()
    await second.messages.write(
      { kind: ModelRequest.Kind.PUSH, sha256: sha(other), sizeBytes: BigInt(other.byteLength), name: 'second' },
      ModelRequest,
    )
    assert.equal((await readReply(second.messages)).status, ComputeStatus.BUSY)
    assert.ok(Date.now() - started < 2000, 'BUSY is answered at once')
    await closedByProvider(second.stream)
    // Another peer is not held up by this one.
    await pushModel(pair.client, pair.provider.getMultiaddrs(), other, { signal: AbortSignal.timeout(5000) })
    // The stalled push, once it sends its bytes, completes.
    for (let offset = 0; offset < big.byteLength; offset += 256 * 1024) {
      await first.messages.write({ data: big.subarray(offset, offset + 256 * 1024) }, ModelChunk)
    }
    assert.equal((await readReply(first.messages)).status, ComputeStatus.OK)
    await first.messages.close()
  })

  it('moves 32 MiB models with flow control, and a flood past the announced size gets TOO_LARGE', async () => {
    for (const mib of [4, 32]) {
      const model = padModel(addModel(), mib * 1024 * 1024)
      const result = await pushModel(pair.client, pair.provider.getMultiaddrs(), model, {
        signal: AbortSignal.timeout(60_000),
      })
      assert.equal(result.sizeBytes, model.byteLength)
      assert.equal(await pair.compute.store.has(Buffer.from(sha(model)).toString('hex')), true)
    }
    // Announce 1 MiB and a bit, then send 24 MiB as fast as the stream takes it, reading the reply meanwhile.
    const { stream, messages } = await openRaw(lessee, pair)
    const flood = padModel(identityModel(['uint16']), 24 * 1024 * 1024)
    await messages.write(
      { kind: ModelRequest.Kind.PUSH, sha256: sha(flood), sizeBytes: 1024n * 1024n + 1000n, name: 'flood' },
      ModelRequest,
    )
    assert.equal((await readReply(messages)).status, ComputeStatus.OK)
    const sending = (async () => {
      for (let offset = 0; offset < flood.byteLength; offset += 512 * 1024) {
        await messages.write({ data: flood.subarray(offset, offset + 512 * 1024) }, ModelChunk)
      }
    })()
    sending.catch(() => {})
    const reply = await readReply(messages)
    assert.equal(reply.status, ComputeStatus.TOO_LARGE)
    stream.abort(new Error('done'))
  })

  it('a chunk frame over 1 MiB is TOO_LARGE, answered', async () => {
    const { stream, messages } = await openRaw(lessee, pair)
    const model = padModel(addModel(), 3 * 1024 * 1024)
    await messages.write(
      { kind: ModelRequest.Kind.PUSH, sha256: sha(model), sizeBytes: BigInt(model.byteLength), name: 'big-chunk' },
      ModelRequest,
    )
    assert.equal((await readReply(messages)).status, ComputeStatus.OK)
    messages.write({ data: model.subarray(0, 2 * 1024 * 1024) }, ModelChunk).catch(() => {})
    assert.equal((await readReply(messages)).status, ComputeStatus.TOO_LARGE)
    stream.abort(new Error('done'))
  })

  it('answers every malformed request with its status: truncated, bad hash length, oversized, huge size', async () => {
    {
      // A length prefix of 40 and 5 bytes of request, then the client closes its side.
      const { stream, messages } = await openRaw(lessee, pair)
      stream.send(Uint8Array.from([40, 0x08, 0x01, 0x12, 0x20, 0x00]))
      await stream.close()
      assert.equal((await readReply(messages)).status, ComputeStatus.MALFORMED_REQUEST)
    }
    {
      const { stream, messages } = await openRaw(lessee, pair)
      await messages.write(
        { kind: ModelRequest.Kind.FETCH, sha256: new Uint8Array(7), sizeBytes: 0n, name: '' },
        ModelRequest,
      )
      assert.equal((await readReply(messages)).status, ComputeStatus.MALFORMED_REQUEST)
      stream.abort(new Error('done'))
    }
    {
      // A request frame over the 4 KiB control limit (here, by its name).
      const { stream, messages } = await openRaw(lessee, pair)
      const model = addModel()
      await messages.write(
        {
          kind: ModelRequest.Kind.PUSH,
          sha256: sha(model),
          sizeBytes: BigInt(model.byteLength),
          name: 'n'.repeat(8000),
        },
        ModelRequest,
      )
      assert.equal((await readReply(messages)).status, ComputeStatus.TOO_LARGE)
      stream.abort(new Error('done'))
    }
    {
      // A push of no bytes at all: a bad field.
      const { stream, messages } = await openRaw(lessee, pair)
      await messages.write(
        { kind: ModelRequest.Kind.PUSH, sha256: sha(identityModel(['bool'])), sizeBytes: 0n, name: '' },
        ModelRequest,
      )
      assert.equal((await readReply(messages)).status, ComputeStatus.MALFORMED_REQUEST)
      stream.abort(new Error('done'))
    }
    {
      // size_bytes = 2^60: a valid uint64, far over any limit.
      const { stream, messages } = await openRaw(lessee, pair)
      const request = new Uint8ArrayList(
        Uint8Array.from([0x08, 0x01, 0x12, 0x20]),
        sha(addModel()),
        Uint8Array.from([0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]),
      ).subarray()
      await messages.write(request, { encode: (bytes: Uint8Array) => bytes })
      assert.equal((await readReply(messages)).status, ComputeStatus.TOO_LARGE)
      stream.abort(new Error('done'))
    }
    // And the provider still serves.
    const a = new Tensor('float32', new Float32Array(6).fill(2), [2, 3])
    const model = await pair.compute.store.add(addModel(), { name: 'add' })
    const { outputs } = await infer(pair.client, pair.provider.getMultiaddrs(), {
      model: model.sha256,
      inputs: { a, b: a },
    })
    assert.equal((outputs.y!.data as Float32Array)[0], 4)
  })
})
