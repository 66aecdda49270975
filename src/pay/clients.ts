import {
  type Account,
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'
import type { ChainConfig } from './chain-config.js'

/** A wallet client with an account: what every chain write takes. */
export type PayWalletClient = WalletClient<Transport, Chain, Account>
/** What chain reads take. */
export type PayPublicClient = PublicClient<Transport, Chain>

function isLocal(rpcUrl: string): boolean {
  return /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(rpcUrl)
}

/** A viem chain for a config (the dev chain or any EVM chain reached by RPC URL), with its tip if it names one. */
export function chainFromConfig(config: Pick<ChainConfig, 'rpcUrl' | 'chainId' | 'maxPriorityFeePerGas'>): Chain {
  return defineChain({
    id: config.chainId,
    name: `chain ${config.chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [config.rpcUrl] } },
    ...(config.maxPriorityFeePerGas != null
      ? { fees: { maxPriorityFeePerGas: BigInt(config.maxPriorityFeePerGas) } }
      : {}),
  })
}

/** Calls made together go as one JSON-RPC batch of at most this many (hosted RPCs cap batches; 50 is common). */
const RPC_BATCH_SIZE = 20

function transport(config: Pick<ChainConfig, 'rpcUrl'>, batch = false) {
  return http(config.rpcUrl, {
    timeout: 30_000,
    retryCount: isLocal(config.rpcUrl) ? 0 : 3,
    ...(batch ? { batch: { batchSize: RPC_BATCH_SIZE } } : {}),
  })
}

// A local anvil mines on every transaction: poll often. Remote chains have block times of seconds.
function pollingInterval(config: Pick<ChainConfig, 'rpcUrl'>): number {
  return isLocal(config.rpcUrl) ? 25 : 2_000
}

/**
 * A client for chain reads. `batch: true` sends calls made in the same turn of the event loop as one JSON-RPC batch
 * (the provider's background channel refreshes).
 */
export function createPayPublicClient(
  config: Pick<ChainConfig, 'rpcUrl' | 'chainId' | 'maxPriorityFeePerGas'>,
  options: { batch?: boolean } = {},
): PayPublicClient {
  return createPublicClient({
    chain: chainFromConfig(config),
    transport: transport(config, options.batch === true),
    pollingInterval: pollingInterval(config),
  }) as PayPublicClient
}

export function createPayWalletClient(
  config: Pick<ChainConfig, 'rpcUrl' | 'chainId' | 'maxPriorityFeePerGas'>,
  account: Account,
): PayWalletClient {
  return createWalletClient({
    account,
    chain: chainFromConfig(config),
    transport: transport(config),
    pollingInterval: pollingInterval(config),
  })
}
