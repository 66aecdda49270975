import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  ChannelError,
  ChannelReader,
  type ChannelTensor,
  channelTensors,
  writeChannelMessage,
} from '../../src/compute/worker-channel.js'
import type { NamedTensor } from '../../src/compute/worker-messages.js'

/** A connected pair of stream sockets over a unix socket in a temp dir. */
async function socketPair(): Promise<{ a: Socket; b: Socket; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'parkbench-channel-'))
  const path = join(dir, 's')
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(path, resolve))
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve))
  const a = connect(path)
  const b = await accepted
  return {
    a,
    b,
    async close() {
      a.destroy()
      b.destroy()
      await new Promise((resolve) => server.close(resolve))
      await rm(dir, { recursive: true, force: true })
    },
  }
}

const tensors: NamedTensor[] = [
  { name: 'odd', dtype: 'uint8', dims: [3], data: new Uint8Array([1, 2, 3]) },
  { name: 'f64', dtype: 'float64', dims: [2], data: new Uint8Array(new Float64Array([1.5, -2.25]).buffer) },
  { name: 's', dtype: 'string', dims: [2], data: ['héllo', ''] },
  { name: 'f32', dtype: 'float32', dims: [2, 2], data: new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer) },
]

describe('worker data channel', () => {
  it('carries a header and tensors whole, however the bytes are split, each numeric tensor 8-byte aligned', async () => {
    const pair = await socketPair()
    try {
      const chunks: Buffer[] = []
      pair.b.on('data', (c: Buffer) => chunks.push(c))
      writeChannelMessage(pair.a, { type: 'run', id: 7 }, 'inputs', tensors)
      writeChannelMessage(pair.a, { type: 'run', id: 8 }, 'inputs', [])
      pair.a.end()
      await new Promise((resolve) => pair.b.once('end', resolve))
      const wire = Buffer.concat(chunks)
      // Every split point of the stream, and one byte at a time.
      for (const split of [...Array.from({ length: wire.byteLength + 1 }, (_, i) => [i]), 'bytes']) {
        const got: Array<{ header: Record<string, unknown>; tensors: NamedTensor[] }> = []
        const reader = new ChannelReader({
          maxHeaderBytes: 4096,
          maxPayloadBytes: 4096,
          onMessage: (header, payload) =>
            got.push({ header, tensors: channelTensors(header.inputs as ChannelTensor[], payload) }),
          onError: (err) => assert.fail(err),
        })
        if (split === 'bytes') for (const byte of wire) reader.push(Uint8Array.of(byte))
        else {
          const at = (split as number[])[0]!
          reader.push(wire.subarray(0, at))
          reader.push(wire.subarray(at))
        }
        assert.equal(got.length, 2)
        assert.equal(got[0]!.header.id, 7)
        assert.equal(got[1]!.header.id, 8)
        assert.deepEqual(got[1]!.tensors, [])
        const read = got[0]!.tensors
        assert.deepEqual(
          read.map((t) => [t.name, t.dtype, t.dims]),
          tensors.map((t) => [t.name, t.dtype, t.dims]),
        )
        for (const [i, t] of read.entries()) {
          const want = tensors[i]!
          if (t.dtype === 'string') assert.deepEqual(t.data, want.data)
          else {
            const bytes = t.data as Uint8Array
            assert.deepEqual([...bytes], [...(want.data as Uint8Array)])
            assert.equal(bytes.byteOffset % 8, 0, `${t.name} is aligned`)
          }
        }
        assert.deepEqual([...new Float64Array((read[1]!.data as Uint8Array).slice().buffer)], [1.5, -2.25])
      }
    } finally {
      await pair.close()
    }
  })

  it('refuses a message over its limits, or a header that is not JSON, with a ChannelError and reads no further', () => {
    const errors: ChannelError[] = []
    const messages: Array<Record<string, unknown>> = []
    const reader = new ChannelReader({
      maxHeaderBytes: 16,
      maxPayloadBytes: 16,
      onMessage: (h) => messages.push(h),
      onError: (err) => errors.push(err),
    })
    const prefix = Buffer.alloc(8)
    prefix.writeUInt32LE(2, 0)
    prefix.writeUInt32LE(17, 4)
    reader.push(prefix)
    reader.push(Buffer.from('{}'))
    assert.equal(errors.length, 1)
    assert.ok(errors[0] instanceof ChannelError)
    assert.match(errors[0]!.message, /over the channel's limits/)
    assert.equal(messages.length, 0)

    const bad: ChannelError[] = []
    const second = new ChannelReader({
      maxHeaderBytes: 16,
      maxPayloadBytes: 16,
      onMessage: (h) => messages.push(h),
      onError: (err) => bad.push(err),
    })
    prefix.writeUInt32LE(3, 0)
    prefix.writeUInt32LE(0, 4)
    second.push(Buffer.concat([prefix, Buffer.from('{x}'), prefix, Buffer.from('{}!')]))
    assert.equal(bad.length, 1)
    assert.match(bad[0]!.message, /not JSON/)
    assert.equal(messages.length, 0)
  })

  it('refuses a tensor listed past the end of its payload', () => {
    assert.throws(
      () => channelTensors([{ name: 'x', dtype: 'float32', dims: [4], offset: 8, byteLength: 16 }], new Uint8Array(16)),
      ChannelError,
    )
  })

  it('reads payloads into the buffer the caller gives (the worker reuses one for every job)', async () => {
    const pair = await socketPair()
    try {
      const slab = new Uint8Array(64)
      const seen: Uint8Array[] = []
      const reader = new ChannelReader({
        maxHeaderBytes: 4096,
        maxPayloadBytes: 64,
        payloadBuffer: (bytes) => slab.subarray(0, bytes),
        onMessage: (_h, payload) => seen.push(payload),
        onError: (err) => assert.fail(err),
      })
      pair.b.on('data', (c: Buffer) => reader.push(c))
      writeChannelMessage(pair.a, { id: 1 }, 'inputs', [tensors[0]!])
      pair.a.end()
      await new Promise((resolve) => pair.b.once('end', resolve))
      assert.equal(seen.length, 1)
      assert.equal(seen[0]!.buffer, slab.buffer)
      assert.deepEqual([...seen[0]!], [1, 2, 3])
    } finally {
      await pair.close()
    }
  })
})
