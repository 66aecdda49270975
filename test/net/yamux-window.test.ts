import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import { logger } from '@libp2p/logger'
import { Uint8ArrayList } from 'uint8arraylist'
import { createNode, type ParkbenchNode } from '../../src/net/create-node.js'
import { sendYamuxWindowUpdatesAtHalf, windowUpdateDue } from '../../src/net/yamux-window.js'

const DATA = 0 // yamux FrameType.Data
const WINDOW_UPDATE = 1 // yamux FrameType.WindowUpdate
const INITIAL_WINDOW = 256 * 1024

interface SentHeader {
  type: number
  flag: number
  length: number
}

/** A yamux stream with no muxer behind it: the frames it would send are collected. */
function streamUnderTest(state: StreamState): { stream: YamuxStream; sent: SentHeader[] } {
  const sent: SentHeader[] = []
  const stream = new YamuxStream({
    id: '1',
    streamId: 1,
    state,
    direction: 'inbound',
    log: logger('parkbench:test:yamux'),
    getRTT: () => -1,
    sendFrame: (header: SentHeader) => {
      sent.push(header)
      return true
    },
  } as unknown as ConstructorParameters<typeof YamuxStream>[0])
  return { stream, sent }
}

function receive(stream: YamuxStream, bytes: number): void {
  stream.handleData({
    header: { type: DATA, flag: 0, streamID: 1, length: bytes },
    data: new Uint8ArrayList(new Uint8Array(bytes)),
  } as unknown as Parameters<YamuxStream['handleData']>[0])
}

describe('yamux window updates once half the window is consumed', () => {
  before(() => sendYamuxWindowUpdatesAtHalf())

  it('small frames (a lease tick each) send no update until half the window is in, then one for all of it', () => {
    const { stream, sent } = streamUnderTest(StreamState.Established)
    for (let i = 0; i < 1_000; i++) receive(stream, 60)
    assert.equal(sent.length, 0, '60 KB of 60-byte frames: no window update yet')
    receive(stream, INITIAL_WINDOW / 2 - 60_000)
    const updates = sent.filter((h) => h.type === WINDOW_UPDATE)
    assert.equal(updates.length, 1)
    assert.equal(updates[0]!.length, INITIAL_WINDOW / 2, 'the update gives back everything consumed')
  })

  it('an update that carries a flag (the ACK of an inbound stream) is never held back', () => {
    assert.equal(windowUpdateDue({ state: StreamState.SYNReceived, recvWindow: 100, recvWindowCapacity: 99 }), true)
    assert.equal(windowUpdateDue({ state: StreamState.Init, recvWindow: 100, recvWindowCapacity: 100 }), true)
    assert.equal(windowUpdateDue({ state: StreamState.Established, recvWindow: 100, recvWindowCapacity: 51 }), false)
    assert.equal(windowUpdateDue({ state: StreamState.Established, recvWindow: 100, recvWindowCapacity: 50 }), true)
    const { stream, sent } = streamUnderTest(StreamState.SYNReceived)
    receive(stream, 60)
    assert.equal(sent.length, 1, 'the first data on an inbound stream is answered with its ACK')
  })

  describe('between two nodes on loopback', () => {
    let a: ParkbenchNode
    let b: ParkbenchNode
    before(async () => {
      a = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], dhtServer: false })
      b = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], dhtServer: false })
    })
    after(async () => {
      await a?.stop()
      await b?.stop()
    })

    it('a 16 MiB upload (many windows) arrives whole', async () => {
      const size = 16 * 1024 * 1024
      let received = 0
      const done = new Promise<void>((resolve) => {
        void b.handle('/parkbench/test-window/1.0.0', (stream) => {
          stream.addEventListener('message', (e) => {
            received += e.data.byteLength
            if (received === size) {
              resolve()
              void stream.close()
            }
          })
        })
      })
      const stream = await a.dialProtocol(b.getMultiaddrs()[0]!, '/parkbench/test-window/1.0.0')
      const chunk = new Uint8Array(64 * 1024)
      for (let sent = 0; sent < size; sent += chunk.byteLength) {
        if (!stream.send(chunk)) await stream.onDrain({ signal: AbortSignal.timeout(10_000) })
      }
      await done
      assert.equal(received, size)
      await stream.close()
    })
  })
})
