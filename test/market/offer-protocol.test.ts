import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream } from '@libp2p/utils'
import { createMarketProvider, fetchOffer, OFFER_PROTOCOL, OFFER_PROTOCOL_LIMITS } from '../../src/market/index.js'
import { createNode, type ParkbenchNode } from '../../src/net/index.js'
import { testTerms } from './terms.js'

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
})
