/**
 * @packageDocumentation
 *
 * Development and research only: a local EVM dev chain (anvil, with the well-known publicly funded dev accounts:
 * never for real money), the whole-market demo, and local swarms.
 *
 * ```ts
 * import { startDevChain } from 'parkbench/dev'
 * const chain = await startDevChain()
 * try { ... chain.rpcUrl, chain.contract, chain.accounts[1].privateKey ... } finally { await chain.stop() }
 * ```
 */
import './polyfill.js'

export { type DemoOptions, type DemoSummary, demoModelPath, runDemo } from './cli/run-demo.js'
export {
  DEV_CHAIN_ID,
  DEV_MNEMONIC,
  type DevAccount,
  type DevChain,
  type DevChainOptions,
  devAccounts,
  devChainConfig,
  findAnvil,
  fundDevAccount,
  startDevChain,
} from './pay/dev-chain.js'
export {
  type ChannelMoneyRow,
  type Distribution,
  type HeadlineRow,
  headlineRows,
  InvalidReportError,
  type InvariantResult,
  type LatencyPairRow,
  type LocalSwarm,
  type LocalSwarmInit,
  REPORT_HTML,
  REPORT_JSON,
  ReportError,
  ReportNotFoundError,
  readReport,
  renderReportHtml,
  type SwarmMember,
  type SwarmReport,
  startLocalSwarm,
  type WriteReportReturnType,
  writeReport,
} from './swarm/index.js'
