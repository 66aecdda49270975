import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import {
  createMessageStream,
  createNode,
  type FrameErrors,
  type MessageCodec,
  type ParkbenchNode,
} from '../../src/net/index.js'

/** Frames carry raw bytes: what is written is what is read. */
const Bytes: MessageCodec<Uint8Array> = {
  encode: (message) => message,
  decode: (bytes) => (bytes instanceof Uint8ArrayList ? bytes.subarray() : bytes),
}

/** A codec whose frames never decode. */
const Undecodable: MessageCodec<Uint8Array> = {
  encode: (message) => message,
  decode: () => {
    throw new RangeError('not this codec')
  },
}

const frame = (size: number, fill: number): Uint8Array => new Uint8Array(size).fill(fill)

class TestTooLarge extends Error {
  override name = 'TestTooLarge'
}
class TestMalformed extends Error {
  override name = 'TestMalformed'
}
class TestAborted extends Error {
  override name = 'TestAborted'
}
const TEST_ERRORS: FrameErrors = {
  tooLarge: (label, cause) => new TestTooLarge(label, { cause }),
  malformed: (label, cause) => new TestMalformed(label, { cause }),
  aborted: (_signal, cause) => new TestAborted('aborted', { cause }),
}

describe('message stream (real libp2p on loopback)', () => {
  const PROTOCOL = '/parkbench-test/frames/1.0.0'
  let dialer: ParkbenchNode
  let listener: ParkbenchNode
  const inbound: Array<(stream: Stream) => void> = []

  before(async () => {
    dialer = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    listener = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    await listener.handle(PROTOCOL, (stream) => inbound.shift()?.(stream))
  })

  after(async () => {
    await dialer?.stop()
    await listener?.stop()
  })

  /** An open stream and the listener's end of it. */
  async function pair(): Promise<{ local: Stream; remote: Stream }> {
    const remote = new Promise<Stream>((resolve) => inbound.push(resolve))
    const local = await dialer.dialProtocol(listener.getMultiaddrs(), PROTOCOL)
    return { local, remote: await remote }
  }

  describe('writes', () => {
    it('serialises concurrent writes: every frame arrives whole, in call order, each settling in turn', async () => {
      const { local, remote } = await pair()
      const writer = createMessageStream(local, { maxDataLength: 1 << 20 })
      const reader = createMessageStream(remote, { maxDataLength: 1 << 20, maxBufferSize: 8 << 20 })
      // Large enough that the muxer window fills and later writes really wait for earlier ones.
      const sizes = [700_000, 10, 300_000, 1, 900_000, 50_000]
      const settledOrder: number[] = []
      const writes = sizes.map((size, i) =>
        writer.write(frame(size, i + 1), Bytes).then(() => {
          settledOrder.push(i)
        }),
      )
      const received: Uint8Array[] = []
      for (let i = 0; i < sizes.length; i++) received.push(await reader.read(Bytes))
      await Promise.all(writes)
      assert.deepEqual(settledOrder, [0, 1, 2, 3, 4, 5])
      assert.deepEqual(
        received.map((r) => r.byteLength),
        sizes,
      )
      for (const [i, r] of received.entries()) assert.ok(r.every((b) => b === i + 1))
      await writer.close()
      await assert.rejects(reader.read(Bytes), { code: 'UNEXPECTED_END' })
    })

    it('fails every waiting write, and every later one, when the stream dies', async () => {
      const { local, remote } = await pair()
      remote.pause() // the peer stops reading: the window fills and writes queue up
      const writer = createMessageStream(local, { maxDataLength: 4 << 20 })
      const writes = [0, 1, 2, 3].map((i) => writer.write(frame(1 << 20, i), Bytes))
      for (const w of writes) w.catch(() => {})
      await new Promise((resolve) => setTimeout(resolve, 100))
      remote.abort(new Error('peer gone'))
      const errors = await Promise.all(
        writes.map((w) =>
          w.then(
            () => undefined,
            (err: Error) => err,
          ),
        ),
      )
      // The first frames may have gone out before the window filled; the rest fail, with the same error.
      const failed = errors.filter((e) => e !== undefined)
      assert.ok(failed.length >= 2, `${failed.length} of 4 writes failed`)
      assert.ok(errors[3] !== undefined)
      assert.ok(failed.every((e) => e === failed[0]))
      assert.equal(writer.writeError, failed[0])
      await assert.rejects(writer.write(frame(1, 9), Bytes), (err) => err === failed[0])
      await assert.rejects(writer.flush(), (err) => err === failed[0])
    })

    it('fails the queue when a frame cannot be delivered before its deadline (the peer stopped reading)', async () => {
      const { local, remote } = await pair()
      remote.pause()
      const writer = createMessageStream(local, { maxDataLength: 4 << 20 })
      const stuck = writer.write(frame(2 << 20, 1), Bytes, { timeoutMs: 100 })
      const behind = writer.write(frame(10, 2), Bytes)
      await assert.rejects(stuck, { name: 'TimeoutError' })
      await assert.rejects(behind, { name: 'TimeoutError' })
      writer.abort(new Error('done'))
    })

    it('fails a message that does not encode alone: nothing is sent and the queue carries on', async () => {
      const { local, remote } = await pair()
      const writer = createMessageStream(local, { maxDataLength: 100 })
      const reader = createMessageStream(remote, { maxDataLength: 100 })
      const Unencodable: MessageCodec<Uint8Array> = {
        ...Bytes,
        encode: () => {
          throw new RangeError('cannot encode')
        },
      }
      const bad = writer.write(frame(1, 1), Unencodable)
      const good = writer.write(frame(3, 2), Bytes)
      await assert.rejects(bad, { message: 'cannot encode' })
      await good
      assert.deepEqual([...(await reader.read(Bytes))], [2, 2, 2])
      assert.equal(writer.writeError, undefined)
      await writer.close()
    })

    it('drops a write whose signal aborts while it waits for its turn; the writes around it still go out', async () => {
      const { local, remote } = await pair()
      remote.pause()
      const writer = createMessageStream(local, { maxDataLength: 4 << 20 })
      const reader = createMessageStream(remote, { maxDataLength: 4 << 20, maxBufferSize: 8 << 20 })
      const first = writer.write(frame(2 << 20, 1), Bytes)
      const cancel = new AbortController()
      const dropped = writer.write(frame(10, 2), Bytes, { signal: cancel.signal })
      const third = writer.write(frame(10, 3), Bytes)
      cancel.abort(new Error('caller gave up'))
      await assert.rejects(dropped, { message: 'caller gave up' })
      remote.resume()
      await Promise.all([first, third])
      const a = await reader.read(Bytes)
      const b = await reader.read(Bytes)
      assert.equal(a.byteLength, 2 << 20)
      assert.deepEqual([...b], [...frame(10, 3)])
      assert.equal(writer.writeError, undefined)
      await writer.close()
    })
  })

  describe('reads', () => {
    it('refuses a frame over maxDataLength (net: MALFORMED_MESSAGE) without reading its body', async () => {
      const { local, remote } = await pair()
      const reader = createMessageStream(remote, { maxDataLength: 100 })
      await lpStream(local).write(frame(101, 1))
      await assert.rejects(reader.read(Bytes), { code: 'MALFORMED_MESSAGE' })
      local.abort(new Error('done'))
    })

    it('maps failures through the protocol errors: too large, buffer overflow, undecodable, aborted', async () => {
      {
        const { local, remote } = await pair()
        const reader = createMessageStream(remote, { maxDataLength: 100, errors: TEST_ERRORS })
        await lpStream(local).write(frame(101, 1))
        await assert.rejects(reader.read(Bytes, { label: 'Test frame' }), {
          name: 'TestTooLarge',
          message: 'Test frame',
        })
        local.abort(new Error('done'))
      }
      {
        // Within maxDataLength, but more bytes than the read buffer holds.
        const { local, remote } = await pair()
        const reader = createMessageStream(remote, { maxDataLength: 1 << 20, maxBufferSize: 1000, errors: TEST_ERRORS })
        await lpStream(local).write(frame(5000, 1))
        await assert.rejects(reader.read(Bytes), { name: 'TestTooLarge' })
      }
      {
        const { local, remote } = await pair()
        const reader = createMessageStream(remote, { maxDataLength: 100, errors: TEST_ERRORS })
        await lpStream(local).write(frame(10, 1))
        await assert.rejects(reader.read(Undecodable), { name: 'TestMalformed' })
        local.abort(new Error('done'))
      }
      {
        const { local, remote } = await pair()
        const reader = createMessageStream(remote, { maxDataLength: 100, errors: TEST_ERRORS })
        await assert.rejects(reader.read(Bytes, { signal: AbortSignal.timeout(50) }), { name: 'TestAborted' })
        local.abort(new Error('done'))
      }
    })

    it('a length prefix over the limit is too large whatever its length in bytes; one that is no varint is malformed', async () => {
      for (const prefix of [
        [0x80, 0x80, 0x80, 0x80, 0x01], // 2^28: five bytes, over a 4-byte limit's prefix
        [0xff, 0xff, 0xff, 0xff, 0xff, 0x0f], // 2^39 - 1
        [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], // 2^63, the longest varint
      ]) {
        const { local, remote } = await pair()
        const reader = createMessageStream(remote, { maxDataLength: 1 << 20, errors: TEST_ERRORS })
        local.send(Uint8Array.from(prefix))
        await assert.rejects(reader.read(Bytes), { name: 'TestTooLarge' }, `prefix ${prefix}`)
        local.abort(new Error('done'))
      }
      const { local, remote } = await pair()
      const reader = createMessageStream(remote, { maxDataLength: 1 << 20, errors: TEST_ERRORS })
      local.send(new Uint8Array(11).fill(0xff))
      await assert.rejects(reader.read(Bytes), { name: 'TestMalformed' })
      local.abort(new Error('done'))
    })

    it('a reader that falls behind holds the writer back (flow control) instead of resetting the stream', async () => {
      const { local, remote } = await pair()
      const writer = createMessageStream(local, { maxDataLength: 1 << 20 })
      // Buffers at most 2 MiB unread; 48 MiB go through it, read slowly.
      const reader = createMessageStream(remote, { maxDataLength: 1 << 20, maxBufferSize: 2 << 20 })
      const frames = 48
      const writing = (async () => {
        for (let i = 0; i < frames; i++) await writer.write(frame(1 << 20, i), Bytes)
        await writer.close()
      })()
      let maxBuffered = 0
      for (let i = 0; i < frames; i++) {
        const got = await reader.read(Bytes)
        assert.equal(got.byteLength, 1 << 20)
        assert.equal(got[0], i & 0xff)
        if (i % 8 === 0) await new Promise((resolve) => setTimeout(resolve, 20))
        maxBuffered = Math.max(maxBuffered, remote.readBufferLength)
      }
      await writing
      assert.equal(remote.status === 'aborted' || remote.status === 'reset', false)
      // What the muxer holds for a paused stream is bounded by its window (16 MiB), not by what was sent.
      assert.ok(maxBuffered <= 17 << 20, `${maxBuffered} bytes buffered in the stream`)
    })

    it('reports a peer that closed mid-frame, or reset the stream, as UNEXPECTED_END', async () => {
      {
        const { local, remote } = await pair()
        const reader = createMessageStream(remote, { maxDataLength: 100 })
        // A length prefix of 50 and 3 bytes of body, then the end.
        local.send(Uint8Array.from([50, 1, 2, 3]))
        await local.close()
        await assert.rejects(reader.read(Bytes), { code: 'UNEXPECTED_END' })
      }
      {
        const { local, remote } = await pair()
        const reader = createMessageStream(remote, { maxDataLength: 100 })
        const read = reader.read(Bytes)
        local.abort(new Error('reset'))
        await assert.rejects(read, { code: 'UNEXPECTED_END' })
      }
    })

    it('after an oversized frame, discardAfterInvalidFrame drops the rest and the answer still reaches the peer', async () => {
      const { local, remote } = await pair()
      const server = createMessageStream(remote, {
        maxDataLength: 200_000,
        maxBufferSize: 1 << 20,
        errors: TEST_ERRORS,
        discardAfterInvalidFrame: true,
      })
      const client = createMessageStream(local, { maxDataLength: 1000 })
      // More than the server buffers: without the discard its buffer overflows and the stream is reset. (Under
      // 2 MiB, so that the length prefix itself is not over-long.)
      const upload = client.write(frame(2_000_000, 7), Bytes)
      upload.catch(() => {})
      await assert.rejects(server.read(Bytes), { name: 'TestTooLarge' })
      // Let the whole upload arrive before answering.
      await upload
      await new Promise((resolve) => setTimeout(resolve, 100))
      await server.write(Uint8Array.from([42]), Bytes)
      const answer = await client.read(Bytes)
      assert.deepEqual([...answer], [42])
      await server.close()
      local.abort(new Error('done'))
    })
  })
})
