/**
 * @packageDocumentation
 *
 * The libp2p node every parkbench process runs, and the stream helpers its protocols share.
 *
 * ```ts
 * import { createNode, loadOrCreatePeerKey } from './net/index.js'
 * const node = await createNode({ privateKey: await loadOrCreatePeerKey(dataDir), listen: ['/ip4/127.0.0.1/tcp/0'] })
 * ```
 *
 * Every protocol frames its streams the same way (length-prefixed protobuf, typed read errors, one serialised
 * writer):
 * ```ts
 * const messages = createMessageStream(stream, { maxDataLength: 4096 })
 * await messages.write(request, Request, { signal })
 * const reply = await messages.read(Reply, { signal })
 * await messages.close({ signal })
 * ```
 *
 * A relay client (`relay: { client: true }`) dials all TCP from one dial port and punches relayed connections into
 * direct ones (src/net/hole-punch.ts, docs/hole-punch.md):
 * ```ts
 * const node = await createNode({ listen: ['/ip4/0.0.0.0/tcp/4001', '/p2p-circuit'], relay: { client: true, dialPort: 4002 } })
 * node.services.holePunch // observedAddresses(), stats()
 * ```
 */
export {
  AMINO_BOOTSTRAP,
  AMINO_DATASTORE_PREFIX,
  AMINO_PROTOCOL,
  AMINO_SERVICE,
  type AminoAddressScope,
  type AminoInit,
  aminoBootstrapList,
} from './amino.js'
export { KAD_PROTOCOL, PROTOCOL_PREFIX, protocolId, RUN_ON_RELAYED_CONNECTIONS } from './constants.js'
export {
  type ConnectionLimits,
  createNode,
  DEFAULT_CONNECTION_LIMITS,
  type DhtAddressScope,
  type NodeInit,
  type NodeServices,
  type ParkbenchNode,
} from './create-node.js'
export { type DhtChoice, dhtRoutingTableSize, waitForDhtPeers } from './dht-ready.js'
export { type DialPortTcpInit, dialPortTcp, pickDialPort } from './dial-port.js'
export * from './errors.js'
export {
  DCUTR_PROTOCOL,
  HOLE_PUNCH_DEFAULTS,
  HOLE_PUNCH_LIMITS,
  type HolePunchComponents,
  HolePunchError,
  type HolePunchInit,
  type HolePunchService,
  type HolePunchStats,
  holePunch,
} from './hole-punch.js'
export { dhtProviderRecordStats, KAD_LIMITS, type KadLimits, type KadScope, limitedKadDHT } from './kad-guard.js'
export { loadOrCreatePeerKey, PEER_KEY_FILE } from './keys.js'
export * from './message-stream.js'
export type { ProviderRecordLimits, ProviderRecordStats } from './provider-records.js'
export {
  type Reachability,
  type ReachabilityInit,
  type ReachabilityService,
  type ReachabilityStatus,
  reachability,
} from './reachability.js'
export { DEFAULT_RELAY_SERVER_LIMITS, type RelayInit, type RelayServerLimits } from './relay.js'
export * from './rpc.js'
