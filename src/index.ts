/**
 * @packageDocumentation
 *
 * parkbench: rent inference from a device nearby and pay by the second, or sell your machine's spare cores.
 *
 * ```ts
 * import { createClient, loadChainConfig, resolveEvmAccount, Tensor } from 'parkbench'
 *
 * const dataDir = `${process.env.HOME}/.parkbench`
 * const client = await createClient({
 *   dataDir,
 *   chain: await loadChainConfig({ dataDir }),
 *   account: await resolveEvmAccount({ dataDir }),
 *   bootstrap: ['/ip4/192.168.1.20/tcp/4610/p2p/12D3KooW...'],
 * })
 * const x = new Tensor('float32', new Float32Array(640 * 640 * 3), [1, 3, 640, 640])
 * const { outputs, providerPeer } = await client.infer({ model: 'det.onnx', inputs: { x }, maxPricePerSecond: 10n ** 10n })
 * await client.close()
 * ```
 *
 * This entry is the SDK: renting (`createClient`), selling (`createDaemon`), chain config and keys, tensors, and
 * the errors to match. The parts underneath have entries of their own: `parkbench/client`, `parkbench/daemon`,
 * `parkbench/pay`, `parkbench/market`, `parkbench/lease`, `parkbench/compute`, `parkbench/net`, and `parkbench/dev`
 * (a local dev chain, the demo, local swarms: never for real money).
 */
import './polyfill.js'

export { Tensor } from 'onnxruntime-node'
// Renting
export {
  type ClientInferParameters,
  type ClientInferResult,
  type ClientInit,
  type ClientLease,
  type ClientLeaseParameters,
  type ClientProgressEvent,
  createClient,
  InsufficientBalanceError,
  NoProviderError,
  PaymentNotConfiguredError,
  type ProviderAttempt,
  RenterClient,
} from './client/index.js'
// Tensors
export {
  BusyError,
  ComputeError,
  DeadlineExceededError,
  InvalidInferenceInputError,
  InvalidModelError,
  ModelNotFoundError,
  readOnnxTensorFile,
  type TensorData,
  type TensorDtype,
  type TensorLike,
  toTensorData,
} from './compute/index.js'
// Selling
export {
  createDaemon,
  Daemon,
  type DaemonConfig,
  type DaemonInit,
  type DaemonLoad,
  type DaemonStatus,
  readConfigFile,
  resolveConfig,
  resolveDataDir,
} from './daemon/index.js'
export { AbortedError, InvalidInputError, ParkbenchError } from './errors.js'
// Leases as they are reported
export { EndReason, LeaseEndedError, LeaseRefusedError, LeaseStatus, type RenterLeaseSummary } from './lease/index.js'
export { type LeaseLogEntry, readLeaseLog } from './lease/lease-log.js'
// Chain and keys
export {
  type ChainConfig,
  ChainConfigError,
  ChainError,
  ChallengePeriodTooShortError,
  formatAmount,
  formatRate,
  getTokenUnits,
  InvalidAmountError,
  loadChainConfig,
  NATIVE_UNITS,
  PayError,
  parseAmount,
  parseRate,
  resolveEvmAccount,
  type TokenUnits,
  UnknownContractError,
} from './pay/index.js'
