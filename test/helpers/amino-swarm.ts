import '../../src/polyfill.js'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'

/**
 * A plain Amino DHT node: stock js-libp2p with kad-dht on `/ipfs/kad/1.0.0` as a server, knowing nothing of
 * parkbench. The one setting that differs from a public IPFS node is the pass-through address mapper: the public
 * network's `removePrivateAddressesMapper` drops 127.0.0.1, and a routing table on loopback would stay empty.
 */
export async function aminoNode() {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // libp2p's default of 5 inbound connections per second per host starves a swarm that all lives on 127.0.0.1.
    connectionManager: { inboundConnectionThreshold: 1_000, maxIncomingPendingConnections: 64 },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({ protocol: '/ipfs/kad/1.0.0', clientMode: false, peerInfoMapper: passthroughMapper }),
    },
  })
}

export type AminoNode = Awaited<ReturnType<typeof aminoNode>>

export interface AminoSwarm {
  nodes: AminoNode[]
  /** The hub's address (with /p2p/): what `--amino-bootstrap` or `amino.bootstrap` takes. */
  bootstrap: string[]
  stop(): Promise<void>
}

export function aminoTableSize(node: AminoNode): number {
  return (node.services.dht as unknown as { routingTable: { size: number } }).routingTable.size
}

/**
 * `size` plain Amino nodes on 127.0.0.1 in a star around the first (the topology that proved reliable here), each
 * with the hub in its routing table and the hub with every other.
 */
export async function startAminoSwarm(size: number, timeoutMs = 30_000): Promise<AminoSwarm> {
  const hub = await aminoNode()
  const nodes: AminoNode[] = [hub]
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()))
  }
  try {
    const rest = await Promise.all(Array.from({ length: size - 1 }, async () => aminoNode()))
    nodes.push(...rest)
    await Promise.all(rest.map((n) => n.dial(hub.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(10_000) })))
    const deadline = Date.now() + timeoutMs
    while (aminoTableSize(hub) < rest.length || rest.some((n) => aminoTableSize(n) < 1)) {
      if (Date.now() > deadline) throw new Error(`Amino swarm: hub knows ${aminoTableSize(hub)} of ${rest.length}`)
      await new Promise((r) => setTimeout(r, 25))
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { nodes, bootstrap: [hub.getMultiaddrs()[0]!.toString()], stop }
}
