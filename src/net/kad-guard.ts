import type { PeerId } from '@libp2p/interface'
import { type KadDHT, type KadDHTComponents, type KadDHTInit, kadDHT, MessageType } from '@libp2p/kad-dht'
import { RateLimiter } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import { MalformedMessageError } from './errors.js'
import {
  type ProviderRecordLimits,
  type ProviderRecordStats,
  ProviderRecordStore,
  providerKeyPrefix,
} from './provider-records.js'

/** What one peer may make this node's DHT keep and do. See protocols/README.md, "Limits against hostile peers". */
export interface KadLimits extends ProviderRecordLimits {
  /** Inbound kad messages one peer may send per window (all its streams and connections together)... */
  messagesPerWindow: number
  /** ... of this many seconds. Past it the stream the message came on is reset. */
  windowSeconds: number
  /**
   * Bytes one peer may send on its inbound kad streams per window. kad-dht reads each stream through a 4 MiB buffer
   * with no backpressure, so this, not the frame limit, bounds what a flooder can park in memory.
   */
  bytesPerWindow: number
  /** Addresses kept from one ADD_PROVIDER (kad-dht merges them into the peer store)... */
  addressesPerProvider: number
  /** ... and no new ones once the peer store holds this many for the sender. */
  addressesPerPeer: number
}

/**
 * A provider advertises one key for its runtime and one per model (at most 256 in an offer), so 512 records per peer
 * leave it room; 1,024 providers per key is more than any lookup ranks; 16,384 records in all cost ~30 MiB at the
 * ~2 KB a record was measured to take. 2,000 messages per 10 s (200/s) covers a provider announcing 257 keys at
 * once (a lookup and an ADD_PROVIDER per key) and caps a flooder at a thirtieth of the 6,000/s that was measured.
 * Requests a DHT server reads are small (a key, or one provider record: 100-300 bytes), so 1 MiB per 10 s is five
 * times what 2,000 of them take. A node listens on a handful of addresses; each ADD_PROVIDER's addresses are merged
 * into the peer store with no limit, and a flood of invented ones (measured) stalled the node for seconds on each
 * merge, so a peer gets 8 per record and 32 in all.
 */
export const KAD_LIMITS: KadLimits = {
  providersPerPeer: 512,
  providersPerKey: 1_024,
  providers: 16_384,
  messagesPerWindow: 2_000,
  windowSeconds: 10,
  bytesPerWindow: 1024 * 1024,
  addressesPerProvider: 8,
  addressesPerPeer: 32,
}

/** kad-dht's decoded message, the fields the guard reads. */
interface KadMessage {
  type: MessageType
  providers: Array<{ id: Uint8Array; multiaddrs: Uint8Array[] }>
}

/** kad-dht's RPC dispatcher: its own inbound stream loop calls `handleMessage` once per message read. */
interface KadRpc {
  handleMessage(peerId: PeerId, message: KadMessage): Promise<unknown>
}

const STORES = new WeakMap<object, ProviderRecordStore>()

/** Parkbench keeps no DHT values: every PUT_VALUE is refused (kad-dht checks records against these by key prefix). */
const REFUSE_VALUES = {
  pk: () => {
    throw new MalformedMessageError('This DHT keeps no values')
  },
}

/** Where a guarded kad-dht instance lives beside others on the same node. */
export interface KadScope {
  /** kad-dht's `datastorePrefix` (default `/dht`): the provider-record store bounds the records under it. */
  datastorePrefix?: string
  /** Our own addresses as this instance's provider records carry them (default: all the address manager has). */
  ownAddresses?(addrs: Multiaddr[]): Multiaddr[]
}

/**
 * kad-dht with parkbench's limits: provider records bounded through a {@link ProviderRecordStore} in front of the
 * datastore (kad-dht has no option for it), inbound messages rate-limited per peer with libp2p's own `RateLimiter`,
 * ADD_PROVIDER trimmed to its sender's own record and a few addresses, and DHT values refused. kad-dht's message
 * dispatcher is not public API: if a kad-dht release renames it this throws at node creation rather than run
 * unguarded (test/net/dht-flood.test.ts holds it to that).
 */
export function limitedKadDHT(
  init: KadDHTInit,
  limits: KadLimits = KAD_LIMITS,
  scope: KadScope = {},
): (components: KadDHTComponents) => KadDHT {
  return (components) => {
    const store = new ProviderRecordStore(components.datastore, {
      self: components.peerId.toString(),
      limits,
      prefix: providerKeyPrefix(scope.datastorePrefix),
    })
    const datastore = store.asDatastore()
    const registrar = limitInboundBytes(components.registrar, init.protocol, limits)
    const addressManager = ownAddresses(components.addressManager, scope.ownAddresses)
    // Only kad-dht sees these; the peer store and every other service keep libp2p's own.
    const scoped = new Proxy(components, {
      get: (target, prop, receiver) => {
        if (prop === 'datastore') return datastore
        if (prop === 'registrar') return registrar
        if (prop === 'addressManager') return addressManager
        return Reflect.get(target, prop, receiver)
      },
    })
    const dht = kadDHT({ ...init, validators: { ...REFUSE_VALUES, ...init.validators } })(scoped)
    guardMessages(dht, components.peerStore, limits)
    STORES.set(dht, store)
    return dht
  }
}

/** The address manager kad-dht reads our addresses from when it provides: filtered when the scope says so. */
function ownAddresses(
  manager: KadDHTComponents['addressManager'],
  filter: KadScope['ownAddresses'],
): KadDHTComponents['addressManager'] {
  if (filter === undefined) return manager
  return new Proxy(manager, {
    get: (target, prop, receiver) => {
      if (prop === 'getAddresses') return () => filter(target.getAddresses())
      const value = Reflect.get(target, prop, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/** The registrar kad-dht registers its handler with: each inbound kad stream counts its bytes against its peer. */
function limitInboundBytes(
  registrar: KadDHTComponents['registrar'],
  protocol: string | undefined,
  limits: KadLimits,
): KadDHTComponents['registrar'] {
  const bytes = new RateLimiter({
    points: limits.bytesPerWindow,
    duration: limits.windowSeconds,
    keyPrefix: 'kad-bytes',
  })
  const handle: KadDHTComponents['registrar']['handle'] = (name, handler, options) => {
    if (name !== protocol) return registrar.handle(name, handler, options)
    return registrar.handle(
      name,
      (stream, connection) => {
        const peer = connection.remotePeer.toString()
        stream.addEventListener('message', (evt) => {
          try {
            bytes.consume(peer, evt.data.byteLength)
          } catch (err) {
            // After the current dispatch, as libp2p's own buffer limit does.
            queueMicrotask(() => stream.abort(err as Error))
          }
        })
        return handler(stream, connection)
      },
      options,
    )
  }
  return new Proxy(registrar, {
    get: (target, prop, receiver) => {
      if (prop === 'handle') return handle
      const value = Reflect.get(target, prop, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

function guardMessages(dht: KadDHT, peerStore: KadDHTComponents['peerStore'], limits: KadLimits): void {
  const rpc = (dht as unknown as { rpc?: Partial<KadRpc> }).rpc
  if (typeof rpc?.handleMessage !== 'function') {
    throw new Error('@libp2p/kad-dht changed its internals: cannot guard inbound DHT messages')
  }
  const handle = rpc.handleMessage.bind(rpc)
  const limiter = new RateLimiter({
    points: limits.messagesPerWindow,
    duration: limits.windowSeconds,
    keyPrefix: 'kad',
  })
  rpc.handleMessage = async (peerId, message) => {
    // Throws RateLimitError past the rate: kad-dht then resets the stream.
    limiter.consume(peerId.toString())
    if (message.type === MessageType.ADD_PROVIDER) {
      // kad-dht stores only the sender's own record; the rest would only be decoded and dropped.
      const own = peerId.toMultihash().bytes
      const entry = message.providers.find((p) => Buffer.from(p.id).equals(own))
      message.providers =
        entry === undefined ? [] : [{ ...entry, multiaddrs: await boundedAddresses(entry.multiaddrs) }]
    }
    return handle(peerId, message)

    /** The record's addresses, with no new ones past the sender's allowance (kad-dht needs at least one). */
    async function boundedAddresses(claimed: Uint8Array[]): Promise<Uint8Array[]> {
      const known = await peerStore.get(peerId).then(
        (peer) => peer.addresses.map((a) => a.multiaddr.bytes),
        () => [],
      )
      const seen = new Set(known.map((a) => Buffer.from(a).toString('hex')))
      const isKnown = (a: Uint8Array): boolean => seen.has(Buffer.from(a).toString('hex'))
      const room = Math.max(0, limits.addressesPerPeer - known.length)
      const kept = [...claimed.filter(isKnown), ...claimed.filter((a) => !isKnown(a)).slice(0, room)]
      const multiaddrs = kept.slice(0, limits.addressesPerProvider)
      return multiaddrs.length > 0 ? multiaddrs : known.slice(0, 1)
    }
  }
}

/**
 * How many provider records the node's DHT holds for other peers, and how many it refused or evicted. `service`
 * names another guarded DHT on the node (`aminoDht`).
 */
export function dhtProviderRecordStats(
  node: { services: { dht: unknown } & Record<string, unknown> },
  service = 'dht',
): ProviderRecordStats | undefined {
  const dht = node.services[service]
  return dht == null ? undefined : STORES.get(dht as object)?.stats()
}
