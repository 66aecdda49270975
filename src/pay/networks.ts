import { getAddress } from 'viem'
import type { ChainConfig } from './chain-config.js'
import { DEFAULT_CHALLENGE_PERIOD_SECONDS } from './constants.js'
import { ChainConfigError } from './errors.js'

/**
 * PaymentChannel's address on every EVM chain: deployed through the deterministic deployment proxy with
 * `PAYMENT_CHANNEL_SALT` and a challenge period of {@link DEFAULT_CHALLENGE_PERIOD_SECONDS} (1 day), so it can ship
 * before anyone deploys it (`parkbench chain deploy --network NAME` puts it there). test/pay/networks.test.ts holds
 * it to what the committed bytecode gives.
 */
export const PAYMENT_CHANNEL_ADDRESS = getAddress('0x15bb2BdB0e96b9B4882587aab31534CE79Ef52E8')

/** A real network one flag away: `parkbench start --network NAME`. */
export interface NetworkPreset {
  name: string
  description: string
  chainId: number
  /** A public RPC endpoint; override it with `--rpc-url` (a public one is rate-limited). */
  rpcUrl: string
  contract: typeof PAYMENT_CHANNEL_ADDRESS
  challengePeriod: string
  /** The block PaymentChannel was deployed in there, once it is: where log scans start. */
  deployBlock?: number
  /** Peers to join through. None are run by the project yet: pass `--bootstrap` until some are. */
  bootstrap: string[]
}

const preset = (name: string, description: string, chainId: number, rpcUrl: string): NetworkPreset => ({
  name,
  description,
  chainId,
  rpcUrl,
  contract: PAYMENT_CHANNEL_ADDRESS,
  challengePeriod: DEFAULT_CHALLENGE_PERIOD_SECONDS.toString(),
  bootstrap: [],
})

/**
 * The networks parkbench knows, all rollups (settling costs cents there). Test networks first: their ETH is free
 * from faucets, which is where a new provider should start.
 */
export const NETWORKS: readonly NetworkPreset[] = [
  preset('base-sepolia', 'Base Sepolia testnet (ETH from a faucet)', 84_532, 'https://sepolia.base.org'),
  preset('optimism-sepolia', 'OP Sepolia testnet (ETH from a faucet)', 11_155_420, 'https://sepolia.optimism.io'),
  preset('base', 'Base mainnet (real money)', 8_453, 'https://mainnet.base.org'),
  preset('optimism', 'OP mainnet (real money)', 10, 'https://mainnet.optimism.io'),
]

/** The preset of this name; a typed error listing the known ones otherwise. */
export function networkPreset(name: string): NetworkPreset {
  const found = NETWORKS.find((n) => n.name === name)
  if (found === undefined) {
    throw new ChainConfigError(`Unknown network "${name}" (known: ${NETWORKS.map((n) => n.name).join(', ')})`)
  }
  return found
}

/** A preset as the chain config every chain command reads, with the RPC URL overridden if given. */
export function networkChainConfig(name: string, options: { rpcUrl?: string | undefined } = {}): ChainConfig {
  const n = networkPreset(name)
  return {
    rpcUrl: options.rpcUrl ?? n.rpcUrl,
    chainId: n.chainId,
    contract: n.contract,
    challengePeriod: n.challengePeriod,
    ...(n.deployBlock !== undefined ? { deployBlock: n.deployBlock } : {}),
  }
}
