import { bootstrap } from '@libp2p/bootstrap'
import type { PeerDiscovery } from '@libp2p/interface'
import { type KadDHT, passthroughMapper, removePrivateAddressesMapper } from '@libp2p/kad-dht'
import { isPrivate } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import { KAD_LIMITS, type KadLimits, limitedKadDHT } from './kad-guard.js'

/** The public IPFS DHT ("Amino"): the largest running Kademlia network. */
export const AMINO_PROTOCOL = '/ipfs/kad/1.0.0'

/**
 * Where kad-dht keeps the Amino instance's provider records and routing state in the node's datastore. parkbench's
 * own DHT keeps kad-dht's default `/dht`: the two must not share records, or each would answer (and re-provide) the
 * other's.
 */
export const AMINO_DATASTORE_PREFIX = '/dht-amino'

/**
 * The well-known libp2p/IPFS bootstrap peers (kubo's default list, as helia ships it). Public internet addresses:
 * dialled only when `NodeInit.amino` is set and gives no bootstrap list of its own. Tests always give one.
 */
export const AMINO_BOOTSTRAP: readonly string[] = [
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt',
  '/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ',
  '/dns/va1.bootstrap.libp2p.io/tcp/443/tls/ws/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8',
]

/** Which addresses the Amino instance keeps from peers and puts in our own provider records. */
export type AminoAddressScope = 'public' | 'all'

/** A second Kademlia DHT on `/ipfs/kad/1.0.0`, beside parkbench's own. See docs/amino.md. */
export interface AminoInit {
  /**
   * Amino peers to join through. Default {@link AMINO_BOOTSTRAP} (public internet addresses). A list given here
   * replaces it (a local swarm in tests, or your own IPFS node).
   */
  bootstrap?: string[]
  /**
   * Answer Amino queries and store other peers' records (`true`), only ask and provide (`false`, the default), or
   * let kad-dht decide (`'auto'`: server once the node has a public address that is not a relay's, client behind a
   * NAT). A server serves the whole IPFS network, within {@link KadLimits}: see docs/amino.md.
   */
  server?: boolean | 'auto'
  /**
   * `public` (default) keeps only public addresses, as every Amino node does, and leaves LAN and loopback addresses
   * out of the provider records we publish. `all` passes every address through: only for a swarm on loopback or a
   * LAN that speaks this protocol (tests, benchmarks), where the default would leave the routing table empty.
   */
  addressScope?: AminoAddressScope
  /** The same bounds parkbench's DHT applies to other peers, by default {@link KAD_LIMITS}. */
  kad?: Partial<KadLimits>
}

/** The libp2p service name of the Amino instance (parkbench's own is `dht`). */
export const AMINO_SERVICE = 'aminoDht'

/** The bootstrap list an Amino instance dials: the one given, else the public one. */
export function aminoBootstrapList(init: AminoInit): string[] {
  return init.bootstrap != null && init.bootstrap.length > 0 ? [...init.bootstrap] : [...AMINO_BOOTSTRAP]
}

/** Our own addresses as the Amino records carry them: none that only a LAN or this machine could dial. */
function publicOnly(addrs: Multiaddr[]): Multiaddr[] {
  return addrs.filter((a) => !isPrivate(a))
}

/**
 * The Amino DHT service, guarded like parkbench's (kad-guard: provider records per peer, per key and in all,
 * message and byte rates, no values), and the peer discovery that joins it. Its routing table fills only with peers
 * that speak `/ipfs/kad/1.0.0`; libp2p's content routing then provides on and looks up in both DHTs.
 */
export function aminoServices(init: AminoInit): {
  service: (components: Parameters<ReturnType<typeof limitedKadDHT>>[0]) => KadDHT
  discovery: (components: any) => PeerDiscovery
  bootstrap: string[]
} {
  const scope = init.addressScope ?? 'public'
  const list = aminoBootstrapList(init)
  const ipList = list.filter((a) => /^\/(ip4|ip6|dns|dns4|dns6|dnsaddr)\//.test(a))
  const server = init.server ?? false
  const service = limitedKadDHT(
    {
      protocol: AMINO_PROTOCOL,
      ...(server === 'auto' ? {} : { clientMode: !server }),
      peerInfoMapper: scope === 'public' ? removePrivateAddressesMapper : passthroughMapper,
      datastorePrefix: AMINO_DATASTORE_PREFIX,
      logPrefix: 'parkbench:amino-dht',
      metricsPrefix: 'parkbench_amino_dht',
      allowQueryWithZeroPeers: true,
      maxInboundStreams: 32,
      maxOutboundStreams: 64,
      incomingMessageTimeout: 10_000,
    },
    { ...KAD_LIMITS, ...init.kad },
    {
      datastorePrefix: AMINO_DATASTORE_PREFIX,
      ...(scope === 'public' ? { ownAddresses: publicOnly } : {}),
    },
  )
  return { service, discovery: bootstrap({ list: ipList, timeout: 0, tagName: 'amino-bootstrap' }), bootstrap: list }
}
