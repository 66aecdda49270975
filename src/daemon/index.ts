/**
 * @packageDocumentation
 *
 * The daemon: config, data dir, and the start/stop order of the services on one node.
 *
 * ```ts
 * const config = resolveConfig(dataDir, await readConfigFile(dataDir), { listen: ['/ip4/127.0.0.1/tcp/0'] })
 * const daemon = createDaemon({ config, chain: await loadChainConfig({ dataDir }), account })
 * await daemon.start()
 * console.log(await daemon.status())
 * await daemon.stop()
 * ```
 */
export * from './config.js'
export { DEFAULT_CONSOLE_PORT } from './console/console-server.js'
export type { OwnerConsole, OwnerConsoleInit } from './console/owner-console.js'
export {
  createDaemon,
  Daemon,
  type DaemonEvent,
  type DaemonInit,
  type DaemonLoad,
  type DaemonStatus,
  toModelSpec,
} from './daemon.js'
export { DATA_DIR_ENV, resolveDataDir } from './data-dir.js'
export { type DaemonEarnings, earningsOf } from './earnings.js'
export * from './errors.js'
export type { DaemonMetrics } from './metrics.js'
export type { ResourcePolicyConfig, ResourcePolicyInput } from './policy-rules.js'
export { readAcPower } from './power-supply.js'
export { defaultPolicySensors, type PolicySensors, type ResourcePolicy } from './resource-policy.js'
export type { PausedBy } from './selling.js'
