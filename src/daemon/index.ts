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
