import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ProviderFinder } from '../../src/client/provider-finder.js'
import { createMarketProvider, type MarketProvider, OFFER_PROTOCOL } from '../../src/market/index.js'
import { OfferRequest, OfferResponse } from '../../src/market/pb/market.js'
import { serveProtocol } from '../../src/net/rpc.js'
import { type LocalSwarm, type SwarmMember, startLocalSwarm } from '../../src/swarm/index.js'
import { testTerms } from '../market/terms.js'

/** How long the slow provider sits on an offer request before it answers. */
const SLOW_MS = 2_000

describe('the renter finder ranks what arrived soon after the first offer, not the tail of the DHT query', () => {
  let swarm: LocalSwarm
  const markets: MarketProvider[] = []
  let fast: SwarmMember
  let slow: SwarmMember
  let client: SwarmMember
  const finder = (init: { discoverySettleMs?: number } = {}) =>
    new ProviderFinder(
      { node: client.node },
      {
        chainId: 31337,
        contract: '0x2222222222222222222222222222222222222222',
        bootstrapped: false,
        offerCacheMs: 0,
        ...init,
      },
    )

  before(async () => {
    swarm = await startLocalSwarm({ size: 6 })
    ;[, fast, slow] = swarm.members as [SwarmMember, SwarmMember, SwarmMember]
    client = swarm.members[5]!
    // The slow provider is the cheaper: if its offer were waited for, it would rank first.
    for (const [member, price] of [
      [fast, 300n],
      [slow, 100n],
    ] as const) {
      const market = createMarketProvider({ node: member.node, privateKey: member.privateKey })
      await market.start()
      await market.setTerms(testTerms(price))
      await market.advertise({ signal: AbortSignal.timeout(10_000) })
      markets.push(market)
    }
    // Its real signed offer, answered SLOW_MS late.
    const signed = markets[1]!.currentOffer()!
    await slow.node.unhandle(OFFER_PROTOCOL)
    await serveProtocol(
      slow.node,
      OFFER_PROTOCOL,
      { request: OfferRequest, response: OfferResponse },
      async () => {
        await new Promise((resolve) => setTimeout(resolve, SLOW_MS))
        return { status: OfferResponse.Status.OK, offer: signed }
      },
      () => undefined,
      { maxRequestBytes: 1024, timeoutMs: 10_000, maxInboundStreams: 4 },
    )
  })

  after(async () => {
    await Promise.all(markets.map(async (m) => m.stop()))
    await swarm?.stop()
  })

  it('by default: the offers of the first 500 ms (at least), the slow one left out', async () => {
    const { offers } = await finder().find(undefined, { signal: AbortSignal.timeout(20_000) })
    assert.deepEqual(
      offers.map((o) => o.peerId.toString()),
      [fast.node.peerId.toString()],
    )
  })

  it('with discoverySettleMs Infinity: every offer the lookup gets before its deadline, the slow one too', async () => {
    const { offers } = await finder({ discoverySettleMs: Number.POSITIVE_INFINITY }).find(undefined, {
      signal: AbortSignal.timeout(20_000),
    })
    assert.deepEqual(
      offers.map((o) => o.peerId.toString()).sort(),
      [fast, slow].map((m) => m.node.peerId.toString()).sort(),
    )
  })
})
