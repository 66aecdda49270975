import { loadChainConfig } from '../pay/chain-config.js'
import { resolveEvmAccount } from '../pay/evm-key.js'
import type { PaymentTerms } from './config.js'

export interface PaymentTermsOptions {
  dataDir: string
  /** `--chain FILE`; else `$PARKBENCH_CHAIN`, else `<dataDir>/chain.json`. */
  chainFile?: string | undefined
  /** `--private-key`; else `$PARKBENCH_PRIVATE_KEY`, else `<dataDir>/evm.key`. */
  privateKey?: string | undefined
  /** Sell for this ERC-20 instead of the native coin. */
  token?: `0x${string}` | undefined
  env?: NodeJS.ProcessEnv
}

/**
 * Payment terms from the chain config that `parkbench chain` saved and this node's EVM account: payouts go to the
 * account's address, through the configured PaymentChannel contract. Throws `ChainConfigError` (code
 * `CHAIN_CONFIG`) when no chain is configured.
 */
export async function paymentTermsFromChain(options: PaymentTermsOptions): Promise<PaymentTerms> {
  const env = options.env ?? process.env
  const chain = await loadChainConfig({
    dataDir: options.dataDir,
    env,
    ...(options.chainFile != null ? { file: options.chainFile } : {}),
  })
  const account = await resolveEvmAccount({ dataDir: options.dataDir, privateKey: options.privateKey, env })
  return {
    payoutAddress: account.address,
    chainId: BigInt(chain.chainId),
    channelContract: chain.contract,
    token: options.token,
    tokenSymbol:
      options.token == null ? 'ETH' : options.token.toLowerCase() === chain.token?.toLowerCase() ? 'DEV' : 'TOKEN',
  }
}
