/**
 * @packageDocumentation
 *
 * parkbench: rent inference from a device nearby and pay by the second, or sell your machine's spare cores.
 *
 * ```ts
 * import { createNode, findOffers } from 'parkbench'
 *
 * const node = await createNode({ bootstrap: ['/ip4/192.168.1.20/tcp/4610/p2p/12D3Koo...'] })
 * const offers = await findOffers({ node }, { maxRttMs: 20 })
 * ```
 */
import './polyfill.js'

export {
  type AdmissionPolicy,
  type ComputeInit,
  ComputeService,
  createCompute,
  createInferClients,
  fetchModelInto,
  InferClients,
  type InferParameters,
  type InferResult,
  infer,
  type ModelRecord,
  ModelStore,
  pushModel,
} from './compute/index.js'
export {
  ControlRequestError,
  controlRequest,
  DaemonNotRunningError,
  DaemonRunningError,
} from './daemon/control.js'
export { type DemoSummary, runDemo } from './daemon/demo.js'
export {
  createDaemon,
  Daemon,
  type DaemonConfig,
  type DaemonLoad,
  type DaemonStatus,
  readConfigFile,
  resolveConfig,
} from './daemon/index.js'
export { type LeaseLogEntry, readLeaseLog } from './daemon/lease-log.js'
export {
  Client,
  type ClientEvent,
  type ClientInferParameters,
  type ClientInferResult,
  type ClientInit,
  type ClientLease,
  type ClientLeaseParameters,
  createClient,
  NoProviderError,
} from './daemon/renter-client.js'
export * from './errors.js'
export * from './lease/index.js'
export {
  createMarketProvider,
  type DiscoveredOffer,
  type DiscoverQuery,
  discoverOffers,
  fetchOffer,
  findOffers,
  InvalidOfferError,
  keyToCid,
  type MarketProvider,
  modelKey,
  NoOfferError,
  OFFER_PROTOCOL,
  OfferBook,
  OfferExpiredError,
  OfferPeerMismatchError,
  OfferSignatureError,
  type OfferSummary,
  type OfferTerms,
  runtimeKey,
  StaleOfferError,
  scoreOffer,
  signOffer,
  summarizeOffer,
  verifySignedOffer,
} from './market/index.js'
export {
  type ConnectionLimits,
  createNode,
  DEFAULT_CONNECTION_LIMITS,
  type DhtAddressScope,
  InvalidKeyFileError,
  KAD_PROTOCOL,
  loadOrCreatePeerKey,
  MalformedMessageError,
  type NodeInit,
  type ParkbenchNode,
  PeerUnreachableError,
  UnexpectedEndError,
  waitForDhtPeers,
} from './net/index.js'
export * from './pay/index.js'
export { type LocalSwarm, type LocalSwarmInit, startLocalSwarm } from './swarm/index.js'
