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
