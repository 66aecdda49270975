import { join } from 'node:path'
import type { PrivateKeyAccount } from 'viem/accounts'
import { resolveDataDir } from '../daemon/data-dir.js'
import {
  type ChainConfig,
  createPaymentStore,
  createPayPublicClient,
  createPayWalletClient,
  loadChainConfig,
  PAYMENT_STORE_DIR,
  type PaymentStore,
  type PayPublicClient,
  type PayWalletClient,
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
  if (file != null) options.file = file
  if (rpcUrl != null) options.rpcUrl = rpcUrl
  if (contract != null) options.contract = contract
  const chain = await loadChainConfig(options)
  const account = await resolveEvmAccount({ privateKey: stringFlag(args, 'private-key'), dataDir, env })
  return {
    dataDir,
    chain,
    account,
    wallet: createPayWalletClient(chain, account),
    publicClient: createPayPublicClient(chain),
  }
}

/** Open the data dir's payment store (fails if a running daemon holds it). */
export function openPaymentStore(dataDir: string): Promise<PaymentStore> {
  return createPaymentStore({ path: join(dataDir, PAYMENT_STORE_DIR) })
}
