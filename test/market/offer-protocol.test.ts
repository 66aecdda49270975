import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { lpStream, pbStream } from '@libp2p/utils'
import {
  createMarketProvider,
  fetchOffer,
  OFFER_PROTOCOL,
  OFFER_PROTOCOL_LIMITS,
  OfferBusyError,
} from '../../src/market/index.js'
import { OfferResponse } from '../../src/market/pb/market.js'
import { createNode, type ParkbenchNode } from '../../src/net/index.js'
import { testTerms } from './terms.js'

/** The peer's answer on a stream we never sent a request on, if one comes within `ms`. */
async function answerWithin(stream: Stream, ms: number): Promise<OfferResponse | undefined> {
  const pb = pbStream(stream, { maxDataLength: OFFER_PROTOCOL_LIMITS.maxResponseBytes })
  return pb.read(OfferResponse, { signal: AbortSignal.timeout(ms) }).catch(() => undefined)
}

/** Resolves true once the stream is closed or reset (by the peer: we keep our side open), false after `ms`. */
async function closedWithin(stream: Stream, ms: number): Promise<boolean> {
  if (stream.status !== 'open') return true
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    stream.addEventListener('close', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
}

describe('offer protocol under hostile peers', () => {
  let provider: ParkbenchNode
  let attacker: ParkbenchNode
  let honest: ParkbenchNode
  const stopAll: Array<() => Promise<void>> = []

  before(async () => {
    const privateKey = await generateKeyPair('Ed25519')
    provider = await createNode({ privateKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
    attacker = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    honest = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    const market = createMarketProvider({ node: provider, privateKey })
    await market.start()
    await market.setTerms(testTerms(42n))
    for (const node of [attacker, honest])
      await node.peerStore.merge(provider.peerId, { multiaddrs: provider.getMultiaddrs() })
    stopAll.push(
      async () => market.stop(),
      async () => provider.stop(),
      async () => attacker.stop(),
      async () => honest.stop(),
    )
  })

  after(async () => {
    for (const stop of stopAll) await stop()
  })

  const stillServes = async (): Promise<void> => {
    const { offer } = await fetchOffer({ node: honest }, provider.peerId, { signal: AbortSignal.timeout(5_000) })
    assert.equal(offer.pricePerSecond, 42n)
  }

  it('resets a stream that sends garbage, and keeps serving others', async () => {
    const stream = await attacker.dialProtocol(provider.peerId, OFFER_PROTOCOL)
    const lp = lpStream(stream)
    // Field 1, length-delimited, claims 80 bytes but holds one: not a protobuf message.
    await lp.write(Uint8Array.from([0x0a, 0x50, 0x01]))
    await assert.rejects(lp.read({ signal: AbortSignal.timeout(5_000) }))
    await stillServes()
  })

  it('resets a stream whose frame is over the size limit before reading it', async () => {
    const stream = await attacker.dialProtocol(provider.peerId, OFFER_PROTOCOL)
    const lp = lpStream(stream, { maxDataLength: 1 << 24 })
    await lp.write(new Uint8Array(OFFER_PROTOCOL_LIMITS.maxRequestBytes + 1)).catch(() => {})
    await assert.rejects(lp.read({ signal: AbortSignal.timeout(5_000) }))
    await stillServes()
  })

  it('resets a truncated frame when the peer goes quiet', async () => {
    const stream = await attacker.dialProtocol(provider.peerId, OFFER_PROTOCOL)
    // A length prefix of 100 bytes, then only 3 of them, then close our side.
    stream.send(Uint8Array.from([100, 1, 2, 3]))
    await stream.close()
    await assert.rejects(lpStream(stream).read({ signal: AbortSignal.timeout(5_000) }))
    await stillServes()
  })

  it('refuses streams beyond the per-connection limit without disturbing other peers', async () => {
    const held = []
    let refused = 0
    for (let i = 0; i < OFFER_PROTOCOL_LIMITS.maxInboundStreams + 4; i++) {
      try {
        held.push(await attacker.dialProtocol(provider.peerId, OFFER_PROTOCOL, { signal: AbortSignal.timeout(5_000) }))
      } catch {
        refused++
      }
    }
    // The provider resets the surplus streams, either at open or at once after.
    const reset = await Promise.all(
      held.map(
        async (s) =>
          new Promise<boolean>((resolve) => {
            if (s.status !== 'open') resolve(true)
            s.addEventListener('close', () => resolve(true), { once: true })
            setTimeout(() => resolve(false), 1_000)
          }),
      ),
    )
    assert.ok(refused + reset.filter(Boolean).length >= 4, `refused ${refused}, reset ${reset.filter(Boolean).length}`)
    await stillServes()
    for (const s of held) s.abort(new Error('done'))
  })

  it('answers BUSY at once past the per-peer limit over all its connections, and closes the refused streams', async () => {
    // Three connections, two silent streams on each: more than one peer may hold, though each connection is far
    // under libp2p's own per-connection limit.
    // One at a time: libp2p joins concurrent dials to one peer into one.
    const connections = []
    for (let i = 0; i < 3; i++) {
      connections.push(await attacker.dial(provider.peerId, { force: true, signal: AbortSignal.timeout(5_000) }))
    }
    assert.equal(new Set(connections.map((c) => c.id)).size, 3)
    const streams: Stream[] = []
    for (const connection of connections) {
      for (let i = 0; i < 2; i++) streams.push(await connection.newStream(OFFER_PROTOCOL))
    }
    const held = streams.slice(0, OFFER_PROTOCOL_LIMITS.maxStreamsPerPeer)
    const refused = streams.slice(OFFER_PROTOCOL_LIMITS.maxStreamsPerPeer)
    const answers = await Promise.all(refused.map(async (s) => answerWithin(s, 1_000)))
    assert.deepEqual(
      answers.map((a) => a?.status),
      refused.map(() => OfferResponse.Status.BUSY),
    )
    // Answered, then closed by the provider although the attacker keeps its side open.
    assert.deepEqual(
      await Promise.all(refused.map(async (s) => closedWithin(s, 3_000))),
      refused.map(() => true),
    )
    // The held ones are still waiting for their request; other peers are served meanwhile.
    assert.ok(held.every((s) => s.status === 'open'))
    await stillServes()
    for (const s of streams) s.abort(new Error('done'))
    await Promise.all(connections.map(async (c) => c.close()))
  })

  it('answers BUSY past the limit for all peers, and serves again once streams finish', async () => {
    const privateKey = await generateKeyPair('Ed25519')
    const small = await createNode({ privateKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
    const market = createMarketProvider({ node: small, privateKey }, { maxStreamsPerPeer: 2, maxStreams: 3 })
    await market.start()
    await market.setTerms(testTerms(7n))
    stopAll.unshift(
      async () => market.stop(),
      async () => small.stop(),
    )
    for (const node of [attacker, honest])
      await node.peerStore.merge(small.peerId, { multiaddrs: small.getMultiaddrs() })
    const second = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    stopAll.unshift(async () => second.stop())
    await second.peerStore.merge(small.peerId, { multiaddrs: small.getMultiaddrs() })
    // Two silent streams from one peer and one from another fill the provider's three.
    const silent = [
      await attacker.dialProtocol(small.peerId, OFFER_PROTOCOL),
      await attacker.dialProtocol(small.peerId, OFFER_PROTOCOL),
      await second.dialProtocol(small.peerId, OFFER_PROTOCOL),
    ]
    await new Promise((r) => setTimeout(r, 100))
    await assert.rejects(
      fetchOffer({ node: honest }, small.peerId, { signal: AbortSignal.timeout(1_000) }),
      OfferBusyError,
    )
    for (const s of silent) s.abort(new Error('gone'))
    await new Promise((r) => setTimeout(r, 100))
    const { offer } = await fetchOffer({ node: honest }, small.peerId, { signal: AbortSignal.timeout(5_000) })
    assert.equal(offer.pricePerSecond, 7n)
  })
})
