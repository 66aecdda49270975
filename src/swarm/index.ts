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
