import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Stream } from '@libp2p/interface'
import { byteStream } from '@libp2p/utils'
import { MalformedMessageError } from '../../src/net/errors.js'
import { createNode, type ParkbenchNode } from '../../src/net/index.js'
import { PING_BYTES, PING_PROTOCOL, pingRtt } from '../../src/net/ping-rtt.js'

describe('pingRtt: round trips on one ping stream (real libp2p on loopback)', () => {
  let dialer: ParkbenchNode
  let stock: ParkbenchNode
  let other: ParkbenchNode
  /** What `other` does with each ping stream it accepts (it replaces libp2p's ping handler). */
  let onPing: (stream: Stream) => Promise<void>
  /** Streams on which `other`'s handler echoed every sample (kad-dht's own pings of a new contact come here too). */
  let carried = 0

  before(async () => {
    dialer = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    stock = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    other = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    await other.unhandle(PING_PROTOCOL)
    await other.handle(PING_PROTOCOL, (stream) => {
      void onPing(stream).catch(() => stream.abort(new Error('test handler failed')))
    })
    await dialer.dial(stock.getMultiaddrs())
    await dialer.dial(other.getMultiaddrs())
  })

  after(async () => {
    await Promise.all([dialer?.stop(), stock?.stop(), other?.stop()])
  })

  it("measures against libp2p's own ping handler, in fractions of a millisecond", async () => {
    const ms = await pingRtt(dialer, stock.peerId, 3, { signal: AbortSignal.timeout(10_000) })
    assert.ok(Number.isFinite(ms) && ms > 0 && ms < 10_000, `${ms} ms`)
  })

  it('carries every sample on one stream and returns the least', async () => {
    const delays = [1_000, 0, 1_000]
    onPing = async (stream) => {
      const bytes = byteStream(stream)
      for (const delay of delays) {
        const buf = await bytes.read({ bytes: PING_BYTES })
        await new Promise((r) => setTimeout(r, delay))
        await bytes.write(buf)
      }
      carried++
      await stream.close()
    }
    carried = 0
    const ms = await pingRtt(dialer, other.peerId, delays.length, { signal: AbortSignal.timeout(10_000) })
    assert.equal(carried, 1)
    // The far end held the first and third echoes of its stream for a second each: the least is the one it did not
    // hold (on a stream per echo every sample would wait the first delay).
    assert.ok(ms < 1_000, `${ms} ms`)
  })

  it('refuses an echo that differs from what was sent', async () => {
    onPing = async (stream) => {
      const bytes = byteStream(stream)
      const buf = (await bytes.read({ bytes: PING_BYTES })).subarray()
      buf[0] = (buf[0] ?? 0) ^ 0xff
      await bytes.write(buf)
    }
    await assert.rejects(
      pingRtt(dialer, other.peerId, 3, { signal: AbortSignal.timeout(10_000) }),
      MalformedMessageError,
    )
  })

  it("gives up at the caller's deadline on a peer that never echoes", async () => {
    onPing = async () => {}
    await assert.rejects(pingRtt(dialer, other.peerId, 3, { signal: AbortSignal.timeout(300) }))
  })
})
