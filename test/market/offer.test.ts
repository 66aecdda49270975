import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createMarketProvider, OFFER_LIMITS, OfferBook, signOffer, verifySignedOffer } from '../../src/market/index.js'
import { Offer } from '../../src/market/pb/market.js'
import { createNode } from '../../src/net/index.js'
import { testModel, testTerms } from './terms.js'

function specOf(name: string) {
  const { hex: _hex, ...spec } = testModel(name)
  return spec
}

async function makeOffer(overrides: Partial<Offer> = {}) {
  const key = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(key)
  const offer: Offer = {
    peerId: peerId.toMultihash().bytes as Uint8Array<ArrayBuffer>,
    runtime: 'onnx/cpu',
    payoutAddress: new Uint8Array(20).fill(1),
    chainId: 31337n,
    channelContract: new Uint8Array(20).fill(2),
    token: new Uint8Array(0),
    tokenSymbol: 'ETH',
    pricePerSecond: 1000n,
    threads: 4,
    memoryBytes: 1n << 30n,
    models: [specOf('m')],
    maxLeaseSeconds: 60,
    region: '',
    sequence: 5n,
    expiresAtMs: BigInt(Date.now() + 60_000),
    ...overrides,
  }
  return { key, peerId, offer, signed: await signOffer(key, offer) }
}

describe('signed offers', () => {
  it('verify against the peer that signed them and round-trip every field', async () => {
    const { peerId, offer, signed } = await makeOffer()
    const verified = await verifySignedOffer(signed, { expectedPeer: peerId })
    assert.ok(verified.peerId.equals(peerId))
    assert.deepEqual(verified.offer, offer)
  })

  it('are refused when any byte is changed after signing', async () => {
    const { peerId, signed } = await makeOffer()
    const tampered = Offer.decode(signed.offer)
    tampered.pricePerSecond = 1n
    await assert.rejects(
      verifySignedOffer({ offer: Offer.encode(tampered), signature: signed.signature }, { expectedPeer: peerId }),
      {
        name: 'OfferSignatureError',
        code: 'OFFER_BAD_SIGNATURE',
      },
    )
  })

  it('are refused when served by a peer other than the signer', async () => {
    const { signed } = await makeOffer()
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    await assert.rejects(verifySignedOffer(signed, { expectedPeer: other }), { code: 'OFFER_PEER_MISMATCH' })
  })

  it('are refused when signed by a key other than the peer id they name', async () => {
    const { offer } = await makeOffer()
    const forger = await generateKeyPair('Ed25519')
    await assert.rejects(verifySignedOffer(await signOffer(forger, offer)), { code: 'OFFER_BAD_SIGNATURE' })
  })

  it('are refused once expired, or when they claim more than a day of validity', async () => {
    const expired = await makeOffer({ expiresAtMs: BigInt(Date.now() - 1) })
    await assert.rejects(verifySignedOffer(expired.signed), { name: 'OfferExpiredError', code: 'OFFER_EXPIRED' })
    const forever = await makeOffer({ expiresAtMs: BigInt(Date.now() + 48 * 3600_000) })
    await assert.rejects(verifySignedOffer(forever.signed), { code: 'INVALID_OFFER' })
  })

  it('are refused with a typed error when malformed', async () => {
    const { signed } = await makeOffer()
    await assert.rejects(
      verifySignedOffer({ offer: Uint8Array.from([0xff, 0xff, 0xff]), signature: signed.signature }),
      {
        code: 'INVALID_OFFER',
      },
    )
    const badAddress = await makeOffer({ payoutAddress: new Uint8Array(19) })
    await assert.rejects(verifySignedOffer(badAddress.signed), { code: 'INVALID_OFFER' })
    const tooManyModels = await makeOffer({ models: Array.from({ length: 257 }, (_, i) => specOf(`m${i}`)) })
    await assert.rejects(verifySignedOffer(tooManyModels.signed), { code: 'INVALID_OFFER' })
  })

  it('older than one already seen from the same peer are refused as stale', async () => {
    const { peerId, offer } = await makeOffer()
    const book = new OfferBook()
    book.accept(peerId, { ...offer, sequence: 10n })
    book.accept(peerId, { ...offer, sequence: 10n })
    assert.throws(() => book.accept(peerId, { ...offer, sequence: 9n }), {
      name: 'StaleOfferError',
      code: 'OFFER_STALE',
    })
    book.accept(peerId, { ...offer, sequence: 11n })
  })

  it('from a provider carry every model compute can serve (32 dims), leaving out alone one an offer cannot carry', async () => {
    const privateKey = await generateKeyPair('Ed25519')
    const node = await createNode({ privateKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
    const market = createMarketProvider({ node, privateKey }, { onAdvertiseError: () => {} })
    try {
      const ofRank = (name: string, rank: number) => ({
        ...specOf(name),
        inputs: [{ name: 'x', dtype: 'float32', dims: Array.from({ length: rank }, () => 1n) }],
      })
      await market.setTerms(
        testTerms(5n, [ofRank('rank 20', 20), ofRank('rank 32', 32), ofRank('rank 33', 33), specOf('plain')]),
      )
      const verified = await verifySignedOffer(market.currentOffer()!, { expectedPeer: node.peerId })
      assert.deepEqual(
        verified.offer.models.map((m) => m.name),
        ['rank 20', 'rank 32', 'plain'],
      )
      // More models than an offer holds: the first 256 are offered, and the offer still verifies.
      const many = Array.from({ length: OFFER_LIMITS.maxModels + 10 }, (_, i) => specOf(`model ${i}`))
      await market.setTerms(testTerms(5n, many))
      const full = await verifySignedOffer(market.currentOffer()!, { expectedPeer: node.peerId })
      assert.equal(full.offer.models.length, OFFER_LIMITS.maxModels)
      assert.equal(full.offer.models.at(-1)?.name, `model ${OFFER_LIMITS.maxModels - 1}`)
    } finally {
      await market.withdraw()
      await node.stop()
    }
  })
})
