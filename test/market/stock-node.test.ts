import '../../src/polyfill.js'
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { createMarketProvider, fetchOffer, keyToCid, type MarketProvider, runtimeKey } from '../../src/market/index.js'
import { createNode, type ParkbenchNode, waitForDhtPeers } from '../../src/net/index.js'
import { testTerms } from './terms.js'

/** A js-libp2p node that knows nothing of parkbench but what protocols/README.md says to configure. */
async function stockNode(dht: Parameters<typeof kadDHT>[0]) {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ping: ping(), dht: kadDHT(dht) },
  })
}

type StockNode = Awaited<ReturnType<typeof stockNode>>

async function providersOf(node: StockNode, key: string, timeoutMs = 5_000): Promise<string[]> {
  const found: string[] = []
  try {
    for await (const p of node.contentRouting.findProviders(await keyToCid(key), {
      signal: AbortSignal.timeout(timeoutMs),
    })) {
      found.push(p.id.toString())
    }
  } catch {
    // A lookup with nobody to ask fails; that is "found nothing" here.
  }
  return found
}

describe('a stock js-libp2p node configured as protocols/README.md says', () => {
  let hub: ParkbenchNode
  let seller: ParkbenchNode
  let market: MarketProvider
  const stock: StockNode[] = []

  before(async () => {
    hub = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    const privateKey = await generateKeyPair('Ed25519')
    const bootstrap = hub.getMultiaddrs().map((a) => a.toString())
    seller = await createNode({ privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap })
    await waitForDhtPeers(seller, 1)
    market = createMarketProvider({ node: seller, privateKey })
    await market.start()
    await market.setTerms(testTerms(99n))
    await market.advertise({ signal: AbortSignal.timeout(10_000) })
  })

  after(async () => {
    await Promise.all(stock.map((n) => n.stop()))
    await market?.stop()
    await seller?.stop()
    await hub?.stop()
  })

  it('finds parkbench providers on the DHT and fetches their offers', async () => {
    const node = await stockNode({
      protocol: '/parkbench/kad/1.0.0',
      peerInfoMapper: passthroughMapper,
      clientMode: true,
    })
    stock.push(node)
    await node.dial(hub.getMultiaddrs()[0]!)
    const found = await providersOf(node, runtimeKey('onnx/cpu'))
    assert.ok(found.includes(seller.peerId.toString()), `found ${found.join(', ')}`)
    const { offer } = await fetchOffer({ node }, seller.peerId, { signal: AbortSignal.timeout(5_000) })
    assert.equal(offer.pricePerSecond, 99n)
  })

  it("finds nothing on loopback with kad-dht's default address mapper", async () => {
    const node = await stockNode({ protocol: '/parkbench/kad/1.0.0', clientMode: true })
    stock.push(node)
    await node.dial(hub.getMultiaddrs()[0]!)
    assert.deepEqual(await providersOf(node, runtimeKey('onnx/cpu'), 2_000), [])
  })
})
