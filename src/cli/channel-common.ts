import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKeyAccount } from 'viem/accounts'
import { resolveDataDir } from '../daemon/data-dir.js'
import { InvalidInputError } from '../errors.js'
import { loadOrCreatePeerKey } from '../net/keys.js'
import {
  type ChainConfig,
  createPayPublicClient,
  createPayWalletClient,
  loadChainConfig,
  NETWORKS,
  networkChainConfig,
  openProviderPayments,
  openRenterPayments,
  PAYMENT_STORE_DIR,
  type PayPublicClient,
  type PayWalletClient,
  type ProviderPayments,
  providerNodeId,
  type RenterPayments,
  resolveEvmAccount,
} from '../pay/index.js'
import { type OptionSpec, type ParsedArgs, stringFlag } from './command.js'

/** Flags every chain-using command takes. */
export const CHAIN_OPTIONS: Record<string, OptionSpec> = {
  chain: {
    type: 'string',
    valueName: 'FILE',
    description: 'Chain config saved by "parkbench chain" (default $PARKBENCH_CHAIN or <data-dir>/chain.json)',
  },
  network: {
    type: 'string',
    valueName: 'NAME',
    description: `A known network instead of a chain config (${NETWORKS.map((n) => n.name).join(', ')}); --rpc-url overrides its RPC`,
  },
  'rpc-url': { type: 'string', valueName: 'URL', description: 'EVM JSON-RPC URL (with --contract: any EVM chain)' },
  contract: { type: 'string', valueName: 'ADDR', description: 'PaymentChannel contract address' },
  'private-key': {
    type: 'string',
    valueName: 'HEX',
    description: 'EVM key (default $PARKBENCH_PRIVATE_KEY or <data-dir>/evm.key, created on first use)',
  },
}

export interface ChainContext {
  dataDir: string
  chain: ChainConfig
  account: PrivateKeyAccount
  wallet: PayWalletClient
  publicClient: PayPublicClient
}

/** Resolve data dir, chain config, account and clients from a command's flags. */
export async function chainContext(args: ParsedArgs, env: NodeJS.ProcessEnv): Promise<ChainContext> {
  const dataDir = resolveDataDir(stringFlag(args, 'data-dir'), env)
  const options: Parameters<typeof loadChainConfig>[0] = { dataDir, env }
  const file = stringFlag(args, 'chain')
  const rpcUrl = stringFlag(args, 'rpc-url')
  const contract = stringFlag(args, 'contract')
  const network = stringFlag(args, 'network')
  if (network != null && (file != null || contract != null)) {
    throw new InvalidInputError('Pass --network, or --chain / --contract, not both')
  }
  if (file != null) options.file = file
  if (rpcUrl != null) options.rpcUrl = rpcUrl
  if (contract != null) options.contract = contract
  const chain = network != null ? networkChainConfig(network, { rpcUrl }) : await loadChainConfig(options)
  const account = await resolveEvmAccount({ privateKey: stringFlag(args, 'private-key'), dataDir, env })
  return {
    dataDir,
    chain,
    account,
    wallet: createPayWalletClient(chain, account),
    publicClient: createPayPublicClient(chain),
  }
}

/** The data dir's provider payment side, as the daemon builds it (fails if a running daemon holds its store). */
export async function openProviderSide(ctx: ChainContext, signal: AbortSignal): Promise<ProviderPayments> {
  const peerId = peerIdFromPrivateKey(await loadOrCreatePeerKey(ctx.dataDir))
  return openProviderPayments(
    {
      chain: ctx.chain,
      account: ctx.account,
      providerNode: providerNodeId(peerId.toMultihash().bytes),
      storeDir: join(ctx.dataDir, PAYMENT_STORE_DIR),
    },
    { signal },
  )
}

/** The data dir's renter payment side, as the client builds it. */
export function openRenterSide(ctx: ChainContext, storeDir: string, signal: AbortSignal): Promise<RenterPayments> {
  return openRenterPayments({ chain: ctx.chain, account: ctx.account, storeDir }, { signal })
}
