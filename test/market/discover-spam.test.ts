import assert from 'node:assert/strict'
import { type AddressInfo, createServer, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import {
  createMarketProvider,
  discoverOffers,
  keyToCid,
  type MarketProvider,
  runtimeKey,
} from '../../src/market/index.js'
import { createNode, type ParkbenchNode, waitForDhtPeers } from '../../src/net/index.js'
import { type AminoSwarm, startAminoSwarm } from '../helpers/amino-swarm.js'
import { testTerms } from './terms.js'

/**
 * Spam on an open DHT (here a local Amino swarm; parkbench's own is as open): 32 peers, each its own key, provide
 * the runtime key with an address that accepts TCP and then stays silent, so a dial to any of them hangs (past the
 * whole 5 s lookup here). Discovery fetches 16 offers at once: before a fetch gave its slot up after `slotMs`, the
 * first 16 silent peers held every slot to the end and the honest provider was never asked.
 */
const FAKES = 32

describe('discovery with silent fake provider records ahead of the honest one', () => {
  let swarm: AminoSwarm
  let market: MarketProvider
  let honest: ParkbenchNode
  let renter: ParkbenchNode
  const fakes: ParkbenchNode[] = []
  const sockets = new Set<Socket>()
  // One silent listener per fake, as a real spammer's records would each carry their own address.
  const blackholes = Array.from({ length: FAKES }, () =>
    createServer((socket) => {
      sockets.add(socket)
      socket.on('error', () => {})
    }),
  )

  before(async () => {
    const ports = await Promise.all(
      blackholes.map(async (b) => {
        await new Promise<void>((resolve) => b.listen(0, '127.0.0.1', resolve))
        return (b.address() as AddressInfo).port
      }),
    )
    swarm = await startAminoSwarm(8)
    // Loopback: the pass-through mapper (the public network's drops 127.0.0.1).
    const amino = { bootstrap: swarm.bootstrap, addressScope: 'all' as const }
    // A DHT client, as a provider behind a NAT is: its record lives only on the servers, stored after the fakes'.
    const privateKey = await generateKeyPair('Ed25519')
    honest = await createNode({ privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], dhtServer: false, amino })
    await honest.dial(multiaddr(swarm.bootstrap[0]!), { signal: AbortSignal.timeout(30_000) })
    await waitForDhtPeers(honest, 1, { signal: AbortSignal.timeout(30_000) })
    // The renter joins before the fakes exist too: a routing table was seen to fill slowly once the swarm knew
    // many silent peers (each new contact is pinged before it is added), which is not what this test is about.
    renter = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], dhtServer: false, amino })
    await renter.dial(multiaddr(swarm.bootstrap[0]!), { signal: AbortSignal.timeout(30_000) })
    await waitForDhtPeers(renter, 1, { signal: AbortSignal.timeout(30_000) })
    const cid = await keyToCid(runtimeKey('onnx/cpu'))
    for (let i = 0; i < FAKES; i += 4) {
      const batch = await Promise.all(
        Array.from({ length: 4 }, async (_, j) =>
          createNode({
            listen: ['/ip4/127.0.0.1/tcp/0'],
            announce: [`/ip4/127.0.0.1/tcp/${ports[i + j]}`],
            dhtServer: false,
            amino,
          }),
        ),
      )
      fakes.push(...batch)
      await Promise.all(
        batch.map(async (n) => {
          await n.dial(multiaddr(swarm.bootstrap[0]!), { signal: AbortSignal.timeout(30_000) })
          await waitForDhtPeers(n, 1, { dht: 'amino', signal: AbortSignal.timeout(30_000) })
          await n.contentRouting.provide(cid, { signal: AbortSignal.timeout(30_000) })
        }),
      )
    }
    market = createMarketProvider({ node: honest, privateKey })
    await market.start()
    await market.setTerms(testTerms(100n))
    await market.advertise({ signal: AbortSignal.timeout(30_000) })
  })

  after(async () => {
    await market?.stop()
    await honest?.stop()
    await renter?.stop()
    await Promise.all(fakes.map(async (n) => n.stop()))
    await swarm?.stop()
    for (const socket of sockets) socket.destroy()
    for (const b of blackholes) b.close()
  })

  it('still yields the honest verified offer within a 5 s lookup', async () => {
    const seen: string[] = []
    for await (const found of discoverOffers({ node: renter }, { timeoutMs: 5_000 })) {
      seen.push(found.peerId.toString())
      if (found.peerId.equals(honest.peerId)) break
    }
    assert.deepEqual(seen, [honest.peerId.toString()])
  })
})
