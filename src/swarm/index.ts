/**
 * @packageDocumentation
 *
 * Local test swarms for researchers: many parkbench nodes on loopback in one process.
 *
 * ```ts
 * const swarm = await startLocalSwarm({ size: 50 })
 * await swarm.stop()
 * ```
 */
export { type LocalSwarm, type LocalSwarmInit, type SwarmMember, startLocalSwarm } from './local-swarm.js'
export {
  type BandwidthClass,
  GOSSIPSUB_INTEROP_8_REGIONS,
  type LinkStats,
  type NetworkConfig,
  NetworkConfigError,
  NetworkModel,
  NetworkPartitionedError,
  validateNetworkConfig,
} from './network.js'
export { createRandom, type Random } from './random.js'
export { type ShapedTransportComponents, type ShapedTransportInit, shapedTransport } from './shaped-transport.js'
