import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { createNode, KAD_PROTOCOL, type ParkbenchNode, waitForDhtPeers } from '../../src/net/index.js'

describe('createNode', () => {
  const nodes: ParkbenchNode[] = []
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
  })

  it('runs the private DHT on loopback: a provider record is found through a bootstrap peer', async () => {
    const hub = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    nodes.push(hub)
    const bootstrap = hub.getMultiaddrs().map((a) => a.toString())
    const provider = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap })
    const seeker = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap })
    nodes.push(provider, seeker)
    assert.ok(hub.getProtocols().includes(KAD_PROTOCOL))

    // Wait until the hub knows both and both know the hub.
    const signal = AbortSignal.timeout(10_000)
    await Promise.all([
      waitForDhtPeers(hub, 2, { signal }),
      waitForDhtPeers(provider, 1, { signal }),
      waitForDhtPeers(seeker, 1, { signal }),
    ])
    const cid = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode('parkbench test key')))
    await provider.contentRouting.provide(cid, { signal: AbortSignal.timeout(10_000) })
    const found: string[] = []
    for await (const p of seeker.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(10_000) })) {
      found.push(p.id.toString())
      if (p.id.equals(provider.peerId)) break
    }
    assert.ok(found.includes(provider.peerId.toString()))
  })

  it('tells connected peers at once what it now speaks (identify push): no reconnect needed', async () => {
    const a = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    const b = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    nodes.push(a, b)
    await b.dial(a.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(10_000) })
    const protocol = '/parkbench-test/pushed/1.0.0'
    const speaks = async (p: string): Promise<boolean> =>
      (await b.peerStore.get(a.peerId).catch(() => undefined))?.protocols.includes(p) === true
    const knows = (): Promise<boolean> => speaks(protocol)
    // Identify on connecting first: b knows what a spoke then (ping), and not the protocol a adds next.
    const identified = Date.now() + 10_000
    while (!(await speaks('/ipfs/ping/1.0.0')) && Date.now() < identified) await new Promise((r) => setTimeout(r, 20))
    assert.equal(await knows(), false)
    await a.handle(protocol, (stream) => {
      stream.abort(new Error('not used'))
    })
    // A condition, not a timing: the push arrives in milliseconds; 10 s bounds a broken one.
    const deadline = Date.now() + 10_000
    while (!(await knows()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    assert.equal(await knows(), true, 'b learnt the new protocol without a new identify')
    assert.equal(b.getConnections(a.peerId).length, 1)
  })

  it('relays nothing and dials no relay unless asked; relay server and client speak the stock protocols', async () => {
    const HOP = '/libp2p/circuit/relay/0.2.0/hop'
    const STOP = '/libp2p/circuit/relay/0.2.0/stop'
    const plain = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    const relay = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], relay: { server: true } })
    const client = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], relay: { client: true } })
    nodes.push(plain, relay, client)
    for (const protocol of [HOP, STOP, '/libp2p/dcutr']) assert.ok(!plain.getProtocols().includes(protocol), protocol)
    assert.ok(relay.getProtocols().includes(HOP))
    assert.ok(client.getProtocols().includes(STOP))
    assert.ok(client.getProtocols().includes('/libp2p/dcutr'))
  })
})
