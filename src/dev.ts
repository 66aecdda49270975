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
export { type LocalSwarm, type LocalSwarmInit, type SwarmMember, startLocalSwarm } from './swarm/index.js'
