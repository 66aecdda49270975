import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  createMarketProvider,
  discoverOffers,
  findOffers,
  keyToCid,
  type MarketProvider,
  OFFER_PROTOCOL,
  RttBook,
  runtimeKey,
} from '../../src/market/index.js'
import { Offer, OfferRequest, OfferResponse } from '../../src/market/pb/market.js'
import { PING_PROTOCOL } from '../../src/net/ping-rtt.js'
import { serveProtocol } from '../../src/net/rpc.js'
import { type LocalSwarm, type SwarmMember, startLocalSwarm } from '../../src/swarm/index.js'
import { testModel, testTerms } from './terms.js'

describe('market discovery in a 10-node loopback swarm', () => {
  let swarm: LocalSwarm
  const providers: MarketProvider[] = []
  let cheap: SwarmMember
  let middle: SwarmMember
  let dear: SwarmMember
  let client: SwarmMember
  const modelA = testModel('model-a')
  const modelB = testModel('model-b')

  before(async () => {
    swarm = await startLocalSwarm({ size: 10 })
    ;[, dear, cheap, middle] = swarm.members as [SwarmMember, SwarmMember, SwarmMember, SwarmMember]
    client = swarm.members[9]!
    const setups: Array<[SwarmMember, bigint, ReturnType<typeof testModel>[]]> = [
      [dear, 300n, [modelA]],
      [cheap, 100n, [modelA]],
      [middle, 200n, [modelB]],
    ]
    for (const [member, price, models] of setups) {
      const market = createMarketProvider({ node: member.node, privateKey: member.privateKey })
      await market.start()
      await market.setTerms(testTerms(price, models))
      await market.advertise({ signal: AbortSignal.timeout(10_000) })
      providers.push(market)
    }
  })

  after(async () => {
    await Promise.all(providers.map(async (p) => p.stop()))
    await swarm?.stop()
  })

  it('finds all three providers, verified, ranked cheapest first', async () => {
    // All three are on this machine: rank by price alone (a ping measured on a busy box is noise, not distance).
    const found = await findOffers({ node: client.node }, { timeoutMs: 5_000, rttWeightMs: Number.POSITIVE_INFINITY })
    assert.deepEqual(
      found.map((f) => f.peerId.toString()),
      [cheap, middle, dear].map((m) => m.node.peerId.toString()),
    )
    assert.deepEqual(
      found.map((f) => f.pricePerSecond),
      [100n, 200n, 300n],
    )
    for (const f of found) {
      assert.ok(f.rttMs >= 0 && Number.isFinite(f.rttMs))
      assert.ok(f.score > 0)
      assert.equal(f.offer.chainId, 31337n)
      assert.equal(Buffer.from(f.offer.peerId).equals(Buffer.from(f.peerId.toMultihash().bytes)), true)
    }
  })

  it('a model lookup returns only the providers holding that model', async () => {
    const holdersOfA = await findOffers({ node: client.node }, { model: modelA.hex })
    assert.deepEqual(
      holdersOfA.map((f) => f.peerId.toString()).sort(),
      [cheap, dear].map((m) => m.node.peerId.toString()).sort(),
    )
    const holdersOfB = await findOffers({ node: client.node }, { model: modelB.hex })
    assert.deepEqual(
      holdersOfB.map((f) => f.peerId.toString()),
      [middle.node.peerId.toString()],
    )
    const nobody = await findOffers({ node: client.node }, { model: testModel('nobody-has-it').hex, timeoutMs: 2_000 })
    assert.deepEqual(nobody, [])
  })

  it('filters by price ceiling and RTT, and stops at a limit', async () => {
    const affordable = await findOffers({ node: client.node }, { maxPricePerSecond: 150n })
    assert.deepEqual(
      affordable.map((f) => f.peerId.toString()),
      [cheap.node.peerId.toString()],
    )
    const none = await findOffers({ node: client.node }, { maxRttMs: -1 })
    assert.deepEqual(none, [])
    const first: unknown[] = []
    for await (const f of discoverOffers({ node: client.node }, { limit: 1 })) first.push(f)
    assert.equal(first.length, 1)
  })

  it('a consumer that stops (a limit, a break) ends the DHT query at once, not at the deadline', async () => {
    const signals: AbortSignal[] = []
    // The client's node as discovery sees it, with the signal of each DHT query it starts kept.
    const contentRouting = {
      ...client.node.contentRouting,
      findProviders: (
        cid: Parameters<typeof client.node.contentRouting.findProviders>[0],
        opts?: { signal?: AbortSignal },
      ) => {
        if (opts?.signal != null) signals.push(opts.signal)
        return client.node.contentRouting.findProviders(cid, opts)
      },
    }
    const node = new Proxy(client.node, {
      get(target, key) {
        if (key === 'contentRouting') return contentRouting
        const value = Reflect.get(target, key)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    const limited: unknown[] = []
    for await (const f of discoverOffers({ node }, { limit: 1, timeoutMs: 60_000 })) limited.push(f)
    assert.equal(limited.length, 1)
    for await (const _ of discoverOffers({ node }, { timeoutMs: 60_000 })) break
    assert.equal(signals.length, 2)
    assert.deepEqual(
      signals.map((s) => s.aborted),
      [true, true],
    )
  })

  it('pings a provider once a minute at most: a second lookup ranks by the round trips the first measured', async () => {
    let pings = 0
    const dialProtocol: typeof client.node.dialProtocol = async (peer, protocols, options) => {
      if ([protocols].flat().includes(PING_PROTOCOL)) pings++
      return client.node.dialProtocol(peer, protocols, options)
    }
    // The client's node as discovery sees it, with its ping streams counted.
    const node = new Proxy(client.node, {
      get(target, key) {
        if (key === 'dialProtocol') return dialProtocol
        const value = Reflect.get(target, key)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    const rttBook = new RttBook()
    const first = await findOffers({ node, rttBook }, { model: modelA.hex })
    assert.equal(first.length, 2)
    assert.equal(pings, first.length, `${pings} ping streams for ${first.length} offers: one each`)
    const pinged = pings
    const again = await findOffers({ node, rttBook }, { model: modelA.hex })
    assert.equal(pings, pinged, 'no ping within the minute')
    assert.deepEqual(
      again.map((o) => [o.peerId.toString(), o.rttMs]).sort(),
      first.map((o) => [o.peerId.toString(), o.rttMs]).sort(),
    )
    // Past its age a round trip is measured anew.
    const stale = new RttBook(0)
    for (const o of first) stale.set(o.peerId, o.rttMs, Date.now() - 1)
    await findOffers({ node, rttBook: stale }, { model: modelA.hex })
    assert.ok(pings > pinged)
  })

  it('refuses a provider whose offer was tampered with, and still lists the honest ones', async () => {
    const liar = await swarm.add()
    // The liar signs an honest offer, then lowers the price: the signature no longer covers the bytes.
    const signer = createMarketProvider({ node: liar.node, privateKey: liar.privateKey })
    await signer.setTerms(testTerms(500n))
    const signed = signer.currentOffer()!
    await signer.withdraw()
    const tampered = Offer.decode(signed.offer)
    tampered.pricePerSecond = 1n
    await serveProtocol(
      liar.node,
      OFFER_PROTOCOL,
      { request: OfferRequest, response: OfferResponse },
      async () => ({
        status: OfferResponse.Status.OK,
        offer: { offer: Offer.encode(tampered), signature: signed.signature },
      }),
      () => undefined,
      { maxRequestBytes: 1024, timeoutMs: 5_000, maxInboundStreams: 4 },
    )
    await liar.node.contentRouting.provide(await keyToCid(runtimeKey('onnx/cpu')), {
      signal: AbortSignal.timeout(10_000),
    })

    const rejected: Array<{ peer: string; code: string }> = []
    const found = await findOffers(
      { node: client.node },
      {
        onRejected: (peer, err) =>
          rejected.push({ peer: peer.toString(), code: (err as { code?: string }).code ?? '' }),
      },
    )
    assert.equal(found.length, 3)
    assert.ok(!found.some((f) => f.peerId.equals(liar.node.peerId)))
    assert.deepEqual(rejected, [{ peer: liar.node.peerId.toString(), code: 'OFFER_BAD_SIGNATURE' }])
  })

  it('drops a provider that withdraws its offer, and one that stops', async () => {
    providers[2]!.withdraw()
    const afterWithdraw = await findOffers({ node: client.node })
    assert.ok(!afterWithdraw.some((f) => f.peerId.equals(middle.node.peerId)))
    assert.ok(afterWithdraw.some((f) => f.peerId.equals(cheap.node.peerId)))

    await providers[1]!.stop()
    await cheap.node.stop()
    const afterStop = await findOffers({ node: client.node })
    assert.deepEqual(
      afterStop.map((f) => f.peerId.toString()),
      [dear.node.peerId.toString()],
    )
  })
})
