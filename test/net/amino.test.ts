import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createMarketProvider, findOffers, keyToCid, type MarketProvider, runtimeKey } from '../../src/market/index.js'
import {
  AMINO_BOOTSTRAP,
  AMINO_PROTOCOL,
  aminoBootstrapList,
  createNode,
  dhtProviderRecordStats,
  dhtRoutingTableSize,
  KAD_PROTOCOL,
  type ParkbenchNode,
  waitForDhtPeers,
} from '../../src/net/index.js'
import { type AminoSwarm, aminoNode, startAminoSwarm } from '../helpers/amino-swarm.js'
import { testModel, testTerms } from '../market/terms.js'

const LOOPBACK = ['/ip4/127.0.0.1/tcp/0']

describe('the Amino option (a second DHT on /ipfs/kad/1.0.0)', () => {
  it('is off by default, and dials the public bootstrap list only when on and given no list', async () => {
    const node = await createNode({ listen: LOOPBACK })
    try {
      assert.equal(node.services.aminoDht, undefined)
      assert.ok(!node.getProtocols().includes(AMINO_PROTOCOL))
    } finally {
      await node.stop()
    }
    // The public list is a constant for real use; tests never start a node with it.
    assert.deepEqual(aminoBootstrapList({}), [...AMINO_BOOTSTRAP])
    assert.ok(AMINO_BOOTSTRAP.every((a) => !a.includes('127.0.0.1')))
    assert.deepEqual(aminoBootstrapList({ bootstrap: ['/ip4/127.0.0.1/tcp/1/p2p/x'] }), ['/ip4/127.0.0.1/tcp/1/p2p/x'])
  })

  it("keeps kad-dht's public-only mapper by default: on loopback the Amino routing table stays empty", async () => {
    const stock = await aminoNode()
    const node = await createNode({ listen: LOOPBACK, amino: { bootstrap: [stock.getMultiaddrs()[0]!.toString()] } })
    try {
      await waitForDhtPeers(node, 1, { dht: 'amino', signal: AbortSignal.timeout(2_000) }).catch(() => {})
      assert.equal(dhtRoutingTableSize(node, 'amino'), 0)
      assert.ok(node.getConnections(stock.peerId).length > 0, 'it did dial the bootstrap peer')
    } finally {
      await node.stop()
      await stock.stop()
    }
  })

  it("applies kad-guard's record bounds to the Amino instance, apart from parkbench's own records", async () => {
    const server = await createNode({
      listen: LOOPBACK,
      amino: { server: true, addressScope: 'all', kad: { providersPerPeer: 2 } },
    })
    const stock = await aminoNode()
    try {
      assert.ok(server.getProtocols().includes(AMINO_PROTOCOL) && server.getProtocols().includes(KAD_PROTOCOL))
      await stock.dial(server.getMultiaddrs()[0]!)
      await waitForPeer(stock, 1)
      for (const i of [1, 2, 3, 4, 5]) {
        const cid = await keyToCid(`amino guard test ${i}`)
        await drain(stock.services.dht.provide(cid, { signal: AbortSignal.timeout(10_000) }))
      }
      // ADD_PROVIDER has no answer: provide() resolves once the message is written, not once the server stored (or
      // refused) it. Wait for all five to have arrived (a condition; 10 s bounds a lost one), then check the split.
      const arrived = (): number => {
        const s = dhtProviderRecordStats(server, 'aminoDht')
        return (s?.records ?? 0) + (s?.refused ?? 0)
      }
      const deadline = Date.now() + 10_000
      while (arrived() < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      const stats = dhtProviderRecordStats(server, 'aminoDht')
      assert.equal(stats?.records, 2)
      assert.equal(stats?.refused, 3)
      // Nothing of it in parkbench's DHT: the two instances keep their records under their own prefixes.
      assert.equal(dhtProviderRecordStats(server)?.records, 0)
    } finally {
      await stock.stop()
      await server.stop()
    }
  })
})

describe('a provider and a renter that share no parkbench DHT peer meet through a local Amino swarm', () => {
  let swarm: AminoSwarm
  let provider: ParkbenchNode
  let renter: ParkbenchNode
  let market: MarketProvider
  const model = testModel('amino-model')

  before(async () => {
    swarm = await startAminoSwarm(10)
    // Loopback needs the pass-through mapper (addressScope 'all'); the public network keeps 'public'.
    const amino = { bootstrap: swarm.bootstrap, addressScope: 'all' as const }
    const privateKey = await generateKeyPair('Ed25519')
    // A DHT client on Amino, as a provider behind a NAT would be.
    provider = await createNode({ privateKey, listen: LOOPBACK, amino })
    renter = await createNode({ listen: LOOPBACK, dhtServer: false, amino })
    await waitForDhtPeers(provider, 1, { dht: 'amino' })
    await waitForDhtPeers(renter, 1, { dht: 'amino' })
    market = createMarketProvider({ node: provider, privateKey })
    await market.start()
    await market.setTerms(testTerms(123n, [model]))
    // Provides on both DHTs at once (libp2p's content routing): parkbench's, with nobody in it, and Amino.
    await market.advertise({ signal: AbortSignal.timeout(20_000) })
  })

  after(async () => {
    await market?.stop()
    await renter?.stop()
    await provider?.stop()
    await swarm?.stop()
  })

  it('plain Amino nodes find the provider records, and neither side has a parkbench DHT peer', async () => {
    assert.equal(dhtRoutingTableSize(provider, 'parkbench'), 0)
    assert.equal(dhtRoutingTableSize(renter, 'parkbench'), 0)
    assert.equal(provider.services.aminoDht?.getMode(), 'client')
    // A client neither answers Amino queries nor tells peers it would (identify lists no /ipfs/kad/1.0.0).
    assert.ok(!provider.getProtocols().includes(AMINO_PROTOCOL))
    const cid = await keyToCid(runtimeKey('onnx/cpu'))
    const holders: string[] = []
    // ADD_PROVIDER has no answer, so advertise() resolved when the records were sent, not stored: a node that finds
    // nothing asks again (a condition; 15 s bounds a record that never arrives).
    const deadline = Date.now() + 15_000
    for (const node of swarm.nodes) {
      let found = false
      while (!found && Date.now() < deadline) {
        try {
          for await (const event of node.services.dht.findProviders(cid, { signal: AbortSignal.timeout(5_000) })) {
            if (event.name === 'PROVIDER' && event.providers.some((p) => p.id.equals(provider.peerId))) {
              found = true
              break
            }
          }
        } catch {}
        if (!found) await new Promise((r) => setTimeout(r, 200))
      }
      if (found) holders.push(node.peerId.toString())
    }
    assert.equal(holders.length, swarm.nodes.length, 'every stock node finds the provider record')
  })

  it('the renter finds the provider by model through Amino and gets its verified offer', async () => {
    const found = await findOffers({ node: renter }, { model: model.hex, timeoutMs: 10_000 })
    assert.deepEqual(
      found.map((f) => f.peerId.toString()),
      [provider.peerId.toString()],
    )
    assert.equal(found[0]!.offer.pricePerSecond, 123n)
    assert.ok(found[0]!.offer.models.some((m) => Buffer.from(m.sha256).toString('hex') === model.hex))
  })
})

async function waitForPeer(node: { services: { dht: unknown } }, min: number): Promise<void> {
  const deadline = Date.now() + 10_000
  const size = (): number => (node.services.dht as { routingTable: { size: number } }).routingTable.size
  while (size() < min) {
    if (Date.now() > deadline) throw new Error('no DHT peer')
    await new Promise((r) => setTimeout(r, 25))
  }
}

async function drain(source: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of source) {
    // provide's query events
  }
}
