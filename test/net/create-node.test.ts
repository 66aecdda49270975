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
})
