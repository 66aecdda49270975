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

function transport(config: Pick<ChainConfig, 'rpcUrl'>) {
  return http(config.rpcUrl, { timeout: 30_000, retryCount: isLocal(config.rpcUrl) ? 0 : 3 })
}

// A local anvil mines on every transaction: poll often. Remote chains have block times of seconds.
function pollingInterval(config: Pick<ChainConfig, 'rpcUrl'>): number {
  return isLocal(config.rpcUrl) ? 25 : 2_000
}

export function createPayPublicClient(
  config: Pick<ChainConfig, 'rpcUrl' | 'chainId' | 'maxPriorityFeePerGas'>,
): PayPublicClient {
  return createPublicClient({
    chain: chainFromConfig(config),
    transport: transport(config),
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
