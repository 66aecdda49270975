import '../polyfill.js'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { autoNAT } from '@libp2p/autonat'
import { bootstrap } from '@libp2p/bootstrap'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { type Identify, type IdentifyPush, identify, identifyPush } from '@libp2p/identify'
import type { PeerDiscovery, PrivateKey } from '@libp2p/interface'
import {
  type KadDHT,
  passthroughMapper,
  removePrivateAddressesMapper,
  removePublicAddressesMapper,
} from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { type Ping, ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { uPnPNAT } from '@libp2p/upnp-nat'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p, type Libp2pOptions } from 'libp2p'
import { AMINO_SERVICE, type AminoInit, aminoServices } from './amino.js'
import { KAD_PROTOCOL } from './constants.js'
import { dialPortTcp, pickDialPort } from './dial-port.js'
import { KAD_LIMITS, type KadLimits, limitedKadDHT } from './kad-guard.js'
import { cachedKeyCrypto } from './noise-crypto.js'
import { componentLogger } from './quiet-logger.js'
import { type ReachabilityInit, reachability } from './reachability.js'
import { type RelayInit, relayServices, relayTransports } from './relay.js'
import { sendYamuxWindowUpdatesAtHalf } from './yamux-window.js'

/** Which peer addresses the DHT keeps and hands out. */
export type DhtAddressScope = 'all' | 'public' | 'private'

export interface NodeInit {
  /** The node's identity. A fresh Ed25519 key when absent (tests); the daemon passes its persistent key. */
  privateKey?: PrivateKey
  /** Multiaddrs to listen on. Default `/ip4/0.0.0.0/tcp/0`. */
  listen?: string[]
  /**
   * Addresses to tell peers instead of the ones libp2p finds: a public node (a relay, a bootstrap peer) that knows
   * its address. Without them libp2p shares a public address only once AutoNAT had a peer dial it back.
   */
  announce?: string[]
  /**
   * libp2p transport factories. Default `[tcp(), webSockets()]` (listen on `/ip4/.../tcp/N/ws` for WebSockets: what
   * browsers and networks that pass only HTTP can reach); a swarm in one process passes its in-process transport
   * (`shapedTransport` from src/swarm) and listens on `/memory/<name>`.
   */
  transports?: Libp2pOptions['transports']
  /** Multiaddrs (with `/p2p/<id>`) of peers to dial at start and keep in touch with. */
  bootstrap?: string[]
  /** Discover peers on the LAN by mDNS. Off by default: it multicasts, which tests must never do. */
  mdns?: boolean
  /**
   * Answer DHT queries (server) or only ask them (client). Default true: a provider must be reachable to be
   * found, and on a LAN or loopback libp2p cannot tell by itself that it is.
   */
  dhtServer?: boolean
  /**
   * Which addresses the DHT keeps: `all` (default) works on loopback, a LAN and the internet at once;
   * `public` matches the IPFS Amino DHT; `private` a LAN-only swarm.
   */
  dhtAddressScope?: DhtAddressScope
  /** How long other nodes keep our provider records, in ms. Default one hour; we re-provide well before. */
  provideValidityMs?: number
  /**
   * How often libp2p pings every open connection to find dead ones, ms. Default libp2p's (10 s). Each ping is a new
   * stream: hundreds of nodes in one process (the swarm lab) ping less often.
   */
  connectionPingIntervalMs?: number
  /** Connection limits. See {@link DEFAULT_CONNECTION_LIMITS}. */
  connections?: Partial<ConnectionLimits>
  /** What other peers may make the DHT keep and do. See {@link KAD_LIMITS}. */
  kad?: Partial<KadLimits>
  /**
   * Also run the public IPFS DHT (`/ipfs/kad/1.0.0`, "Amino") beside parkbench's own: provides go to both and
   * lookups ask both (libp2p's content routing merges them and drops duplicates). Off by default; with no
   * bootstrap list of its own it joins through the public IPFS bootstrap peers. See src/net/amino.ts, docs/amino.md.
   */
  amino?: AminoInit
  /**
   * Circuit relay v2 and hole punching (DCUtR, src/net/hole-punch.ts), for nodes behind NATs: `client` to dial and
   * listen through relays, dial from one dial port and punch relayed connections into direct ones; `server` to
   * be one. Neither by default. See src/net/relay.ts and protocols/README.md ("Relays").
   */
  relay?: RelayInit
  /**
   * Learn whether the node is reachable from the internet (AutoNAT: peers dial our addresses back) and, when it is
   * not, reserve relayed addresses (needs `relay.client`). Off by default. See src/net/reachability.ts.
   */
  reach?: ReachabilityInit
  /**
   * Ask the home router to forward our TCP listening port (UPnP IGD), with `@libp2p/upnp-nat`: the
   * mapped address joins the observed ones, and is shared once AutoNAT verified it. Off by default: without
   * `gateways` it searches the LAN by SSDP multicast (239.255.255.250), which tests never send.
   */
  upnp?: UpnpInit
  /**
   * libp2p's metrics implementation, e.g. `prometheusMetrics({ registry })` from `@libp2p/prometheus-metrics`. None by
   * default: only the daemon that serves `/metrics` turns it on (it costs a little on every stream).
   */
  metrics?: Libp2pOptions['metrics']
}

/** UPnP port mapping: where the router's UPnP descriptor is (no multicast search then), and how long a mapping lasts. */
export interface UpnpInit {
  /** `http://` URLs of the gateway's UPnP device descriptor (e.g. `http://192.168.1.1:5000/rootDesc.xml`). */
  gateways?: string[]
}

/** AutoNAT v1's streams per connection: it asks a few peers, and answers few. */
const AUTONAT_INIT = { maxInboundStreams: 2, maxOutboundStreams: 4 }

/** How long a port mapping is asked for; libp2p renews it a minute before it lapses. */
export const UPNP_MAPPING_TTL_MS = 720_000

export interface ConnectionLimits {
  /** Open connections at most; past it libp2p prunes the least useful. */
  maxConnections: number
  /** Inbound connections accepted per second from one host. libp2p's default of 5 starves a local swarm. */
  inboundConnectionThreshold: number
  /** Inbound connections still upgrading (noise + yamux) at once. */
  maxIncomingPendingConnections: number
  /** Dial timeout in ms. */
  dialTimeout: number
  /**
   * Streams a peer may have open to us on one connection, all protocols together, including those still choosing
   * their protocol (yamux's default is 1,000).
   */
  maxInboundStreamsPerConnection: number
}

/**
 * Chosen for a daemon on a phone or laptop: a few hundred peers is plenty for a DHT plus active leases, and the
 * per-host inbound rate is raised so that a swarm of nodes on one machine (one host) can all connect at once.
 * 64 connections may be in their noise + yamux handshake at once (libp2p's default is 10), which bounds the CPU a
 * burst of dials costs. Streams per connection: the per-protocol limits add up to 122 (kad 32, infer 32, model 32,
 * offer 8, lease 8, ping 8, identify and its push 1 each), so 256 leaves room for streams still negotiating.
 */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxConnections: 300,
  inboundConnectionThreshold: 200,
  maxIncomingPendingConnections: 64,
  dialTimeout: 10_000,
  maxInboundStreamsPerConnection: 256,
}

export interface NodeServices extends Record<string, unknown> {
  dht: KadDHT
  /** The Amino DHT, when `NodeInit.amino` is set. */
  aminoDht?: KadDHT
  identify: Identify
  identifyPush: IdentifyPush
  ping: Ping
}

export type ParkbenchNode = Libp2p<NodeServices>

const ADDRESS_MAPPERS = {
  all: passthroughMapper,
  public: removePrivateAddressesMapper,
  private: removePublicAddressesMapper,
}

async function resolveDialPort(dialPort: number | 'auto' | false): Promise<number | false> {
  if (dialPort === 'auto') return await pickDialPort()
  return dialPort === false || dialPort <= 0 ? false : dialPort
}

/**
 * Create (and start) a libp2p node with parkbench's stack: TCP, noise, yamux, identify, ping and a Kademlia DHT
 * on `/parkbench/kad/1.0.0`.
 *
 * @example
 * ```ts
 * const node = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
 * console.log(node.peerId.toString(), node.getMultiaddrs())
 * await node.stop()
 * ```
 */
export async function createNode(init: NodeInit = {}): Promise<ParkbenchNode> {
  const limits = { ...DEFAULT_CONNECTION_LIMITS, ...init.connections }
  const peerDiscovery: Array<(components: any) => PeerDiscovery> = []
  // @libp2p/bootstrap takes IP and DNS addresses only; any other (an in-process `/memory` address) is dialed once
  // the node has started.
  const ipBootstrap = (init.bootstrap ?? []).filter((a) => /^\/(ip4|ip6|dns|dns4|dns6|dnsaddr)\//.test(a))
  const otherBootstrap = (init.bootstrap ?? []).filter((a) => !ipBootstrap.includes(a))
  if (ipBootstrap.length > 0) peerDiscovery.push(bootstrap({ list: ipBootstrap, timeout: 0 }))
  if (init.mdns === true) peerDiscovery.push(mdns())
  const amino = init.amino != null ? aminoServices(init.amino) : undefined
  if (amino != null) peerDiscovery.push(amino.discovery)
  const otherAminoBootstrap = (amino?.bootstrap ?? []).filter((a) => !/^\/(ip4|ip6|dns|dns4|dns6|dnsaddr)\//.test(a))
  const provideValidityMs = init.provideValidityMs ?? 3_600_000
  // A relay client dials from one port, so that a hole punch has an address to dial (src/net/dial-port.ts).
  const relay: RelayInit | undefined =
    init.relay?.client === true
      ? { ...init.relay, dialPort: await resolveDialPort(init.relay.dialPort ?? 'auto') }
      : init.relay
  const dialPort = typeof relay?.dialPort === 'number' ? relay.dialPort : 0
  // One window update per half window received, not one per frame (a tick's ack would cost two writes).
  sendYamuxWindowUpdatesAtHalf()

  const node = await createLibp2p({
    privateKey: init.privateKey ?? (await generateKeyPair('Ed25519')),
    addresses: {
      listen: init.listen ?? ['/ip4/0.0.0.0/tcp/0'],
      ...(init.announce != null && init.announce.length > 0 ? { announce: init.announce } : {}),
    },
    transports: [
      ...(init.transports ?? [dialPort > 0 ? dialPortTcp({ dialPort }) : tcp(), webSockets()]),
      ...relayTransports(relay),
    ],
    connectionEncrypters: [noise({ crypto: cachedKeyCrypto() })],
    logger: componentLogger(),
    streamMuxers: [yamux({ maxInboundStreams: limits.maxInboundStreamsPerConnection })],
    peerDiscovery,
    ...(init.metrics !== undefined ? { metrics: init.metrics } : {}),
    ...(init.connectionPingIntervalMs !== undefined
      ? { connectionMonitor: { pingInterval: init.connectionPingIntervalMs } }
      : {}),
    connectionManager: {
      maxConnections: limits.maxConnections,
      inboundConnectionThreshold: limits.inboundConnectionThreshold,
      maxIncomingPendingConnections: limits.maxIncomingPendingConnections,
      dialTimeout: limits.dialTimeout,
    },
    services: {
      ...relayServices(relay),
      ...(init.reach != null
        ? {
            // AutoNAT v1: asks peers to dial our public addresses back (libp2p shares a public address only once
            // one did) and answers theirs. Its server dials only the IP a request came from.
            ...(init.reach.autonat !== false ? { autonat: autoNAT(AUTONAT_INIT) } : {}),
            reachability: reachability({
              ...init.reach,
              reservations: init.relay?.client === true ? (init.reach.reservations ?? 2) : 0,
            }),
          }
        : {}),
      ...(init.upnp != null
        ? {
            // A mapped address is verified by AutoNAT before it is shared (@libp2p/upnp-nat needs it).
            ...(init.reach == null || init.reach.autonat === false ? { autonat: autoNAT(AUTONAT_INIT) } : {}),
            upnp: uPnPNAT({
              portMappingDescription: 'parkbench',
              portMappingTTL: UPNP_MAPPING_TTL_MS,
              ...(init.upnp.gateways != null && init.upnp.gateways.length > 0 ? { gateways: init.upnp.gateways } : {}),
            }),
          }
        : {}),
      identify: identify(),
      // Tells connected peers at once when our addresses change (a relay reserved or lost, a public address
      // confirmed), so their DHT records and dials do not wait for the next identify. One stream each way at a
      // time; libp2p pushes to at most 32 peers at once.
      identifyPush: identifyPush({ maxInboundStreams: 1, maxOutboundStreams: 1 }),
      // kad-dht pings new contacts on the same protocol; discovery measures RTT with it too.
      ping: ping({ maxInboundStreams: 8, maxOutboundStreams: 8 }),
      // Provider records bounded, inbound messages rate-limited per peer: see kad-guard.ts.
      dht: limitedKadDHT(
        {
          protocol: KAD_PROTOCOL,
          clientMode: !(init.dhtServer ?? true),
          peerInfoMapper: ADDRESS_MAPPERS[init.dhtAddressScope ?? 'all'],
          // Until a node has a peer in its routing table it has nobody to ask; don't hang on that.
          allowQueryWithZeroPeers: true,
          // Set on purpose (see protocols/README.md): streams per connection and the per-message read deadline.
          maxInboundStreams: 32,
          maxOutboundStreams: 64,
          incomingMessageTimeout: 10_000,
          // kad-dht 16 declares `providers.provideValidity` but never reads it: records other peers stored here
          // expire by `reprovide.validity`, swept every `reprovide.interval`.
          reprovide: {
            validity: provideValidityMs,
            threshold: Math.floor(provideValidityMs / 2),
            interval: Math.max(1000, Math.floor(provideValidityMs / 6)),
          },
        },
        { ...KAD_LIMITS, ...init.kad },
      ),
      ...(amino != null ? { [AMINO_SERVICE]: amino.service } : {}),
    },
  })
  for (const addr of [...otherBootstrap, ...otherAminoBootstrap]) {
    await node.dial(multiaddr(addr), { signal: AbortSignal.timeout(limits.dialTimeout) }).catch(() => {})
  }
  return node
}
