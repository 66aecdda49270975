import '../../src/polyfill.js'
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Connection, IdentifyResult, PeerId, Stream } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { pbStream, streamPair } from '@libp2p/utils'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import {
  HOLE_PUNCH_LIMITS,
  type HolePunchComponents,
  type HolePunchService,
  holePunch,
} from '../../src/net/hole-punch.js'
import { HolePunch } from '../../src/net/pb/dcutr.js'

// The hole punch service against a hostile or odd peer, with fake libp2p components: what it sends, what it
// dials (never a private address, at most 4, always with the peer's id), and which exchanges it refuses.

const DIAL_PORT = 4100
const newPeer = async (): Promise<PeerId> => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))

interface Harness {
  service: HolePunchService
  dials: Multiaddr[]
  /** Feed an identify result: `observer` saw us at `addr` on a connection in `direction`. */
  observe(observer: PeerId, addr: string, direction?: 'inbound' | 'outbound'): void
  /** Open a dcutr stream to the service as `peer` over a relayed (or direct) connection; our end of it. */
  connect(peer: PeerId, relayed?: boolean): Promise<Stream>
}

async function harness(): Promise<Harness> {
  const events = new EventTarget()
  const dials: Multiaddr[] = []
  let handler: ((stream: Stream, connection: Connection) => void | Promise<void>) | undefined
  const components: HolePunchComponents = {
    peerId: await newPeer(),
    logger: defaultLogger(),
    events: events as HolePunchComponents['events'],
    registrar: {
      handle: async (_protocol, h) => {
        handler = h
      },
      unhandle: async () => {},
      register: async () => 'topology',
      unregister: () => {},
    },
    connectionManager: { getConnections: () => [] },
    transportManager: {
      dial: async (addr) => {
        dials.push(addr)
        throw new Error('unreachable in this test')
      },
    },
  }
  const service = holePunch({ dialPort: DIAL_PORT, timeoutMs: 2_000 })(components)
  await service.start()
  const fakeConnection = (peer: PeerId, relayed: boolean, direction: 'inbound' | 'outbound' = 'outbound') =>
    ({
      remotePeer: peer,
      remoteAddr: multiaddr(
        relayed ? `/ip4/11.0.0.10/tcp/4001/p2p/${peer}/p2p-circuit/p2p/${peer}` : `/ip4/11.0.0.10/tcp/4001/p2p/${peer}`,
      ),
      direction,
      status: 'open',
      limits: relayed ? { bytes: 1000n } : undefined,
    }) as unknown as Connection
  return {
    service,
    dials,
    observe(observer, addr, direction = 'outbound') {
      const detail = {
        peerId: observer,
        observedAddr: multiaddr(addr),
        connection: fakeConnection(observer, false, direction),
      } as unknown as IdentifyResult
      events.dispatchEvent(new CustomEvent('peer:identify', { detail }))
    },
    async connect(peer, relayed = true) {
      const [ours, theirs] = await streamPair()
      void handler!(theirs, fakeConnection(peer, relayed))
      return ours
    },
  }
}

describe('hole punch service (DCUtR with observed addresses)', () => {
  it('keeps only addresses seen at its dial port on connections it dialled, one per observer, most observed first', async () => {
    const h = await harness()
    const [relay, other, liar] = [await newPeer(), await newPeer(), await newPeer()]
    h.observe(relay, `/ip4/11.0.0.100/tcp/${DIAL_PORT}`)
    h.observe(relay, '/ip4/11.0.0.100/tcp/5555') // not the dial port: a NAT that changed it
    h.observe(other, `/ip4/11.0.0.200/tcp/${DIAL_PORT}`, 'inbound') // they dialled us: not our dial port
    h.observe(other, `/ip4/10.1.2.3/tcp/${DIAL_PORT}`) // private
    for (let i = 1; i <= 8; i++) h.observe(liar, `/ip4/11.9.9.${i}/tcp/${DIAL_PORT}`)
    h.observe(other, `/ip4/11.0.0.100/tcp/${DIAL_PORT}`)
    assert.deepEqual(h.service.observedAddresses().map(String), [
      `/ip4/11.0.0.100/tcp/${DIAL_PORT}`,
      `/ip4/11.9.9.8/tcp/${DIAL_PORT}`,
    ])
    await h.service.stop()
  })

  it('dials only public TCP addresses among the first 4 a peer sends, each with its peer id', async () => {
    const h = await harness()
    h.observe(await newPeer(), `/ip4/11.0.0.100/tcp/${DIAL_PORT}`)
    const peer = await newPeer()
    const messages = pbStream(await h.connect(peer)).pb(HolePunch)
    const sent = [
      '/ip4/127.0.0.1/tcp/4000',
      '/ip4/192.168.1.2/tcp/4000',
      '/ip4/11.0.0.5/tcp/4000',
      '/ip4/11.0.0.6/udp/4000/quic-v1',
      '/ip4/11.0.0.7/tcp/4000',
    ].map((a) => multiaddr(a).bytes)
    await messages.write({ type: HolePunch.Type.CONNECT, obsAddrs: [...sent, new Uint8Array([1, 2, 3])] })
    const answer = await messages.read()
    assert.equal(answer.type, HolePunch.Type.CONNECT)
    assert.deepEqual(
      answer.obsAddrs.map((b) => multiaddr(b).toString()),
      [`/ip4/11.0.0.100/tcp/${DIAL_PORT}`],
    )
    await messages.write({ type: HolePunch.Type.SYNC, obsAddrs: [] })
    for (let i = 0; i < 50 && h.dials.length === 0; i++) await sleep(10)
    assert.deepEqual(h.dials.map(String), [`/ip4/11.0.0.5/tcp/4000/p2p/${peer}`])
    await h.service.stop()
  })

  it('refuses an exchange on a direct connection, an oversized message, and a seventh punch from one peer', async () => {
    const h = await harness()
    h.observe(await newPeer(), `/ip4/11.0.0.100/tcp/${DIAL_PORT}`)
    const peer = await newPeer()

    const direct = await h.connect(peer, false)
    await assert.rejects(
      pbStream(direct)
        .pb(HolePunch)
        .read({ signal: AbortSignal.timeout(1_000) }),
    )

    const oversized = pbStream(await h.connect(peer), { maxDataLength: 2 * HOLE_PUNCH_LIMITS.maxMessageBytes }).pb(
      HolePunch,
    )
    const big = Array.from({ length: 3 }, () => new Uint8Array(2_000))
    await oversized.write({ type: HolePunch.Type.CONNECT, obsAddrs: big })
    await assert.rejects(oversized.read({ signal: AbortSignal.timeout(1_000) }))

    // Punches 2 to 6 (the oversized one was the first): each answered, then dropped by us before the SYNC.
    for (let i = 2; i <= 6; i++) {
      const messages = pbStream(await h.connect(peer)).pb(HolePunch)
      await messages.write({ type: HolePunch.Type.CONNECT, obsAddrs: [multiaddr('/ip4/11.0.0.5/tcp/1').bytes] })
      assert.equal((await messages.read()).type, HolePunch.Type.CONNECT)
      messages.unwrap().unwrap().abort(new Error('gone'))
    }
    const seventh = pbStream(await h.connect(peer)).pb(HolePunch)
    await seventh.write({ type: HolePunch.Type.CONNECT, obsAddrs: [multiaddr('/ip4/11.0.0.5/tcp/1').bytes] })
    await assert.rejects(seventh.read({ signal: AbortSignal.timeout(1_000) }))
    const stats = h.service.stats()
    assert.equal(stats.refused, 1, JSON.stringify(stats))
    assert.equal(stats.attempts, 6, JSON.stringify(stats))
    assert.deepEqual(h.dials, [], 'nothing was dialled')
    await h.service.stop()
  })
})
