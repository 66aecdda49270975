import type { LocalAccount } from 'viem'
import type { ModelRecord } from '../compute/model-record.js'
import type { OfferTerms } from '../market/market-provider.js'
import type { ModelSpec } from '../market/pb/market.js'
import type { ChainConfig } from '../pay/chain-config.js'
import type { DaemonConfig } from './config.js'
import type { ConsoleTerms } from './console/console-state.js'

/**
 * The token's symbol as the offer shows it: the one its contract gives (`symbol`, read at start), else ETH for the
 * native coin, DEV for the dev chain's token.
 */
function tokenSymbol(config: DaemonConfig, chain: ChainConfig | undefined, symbol?: string): string {
  if (symbol != null) return symbol
  const { token } = config.pay
  if (token == null) return 'ETH'
  return token.toLowerCase() === chain?.token?.toLowerCase() ? 'DEV' : 'TOKEN'
}

/** The offer the daemon signs, from its config (the price may have changed since start) and the models it holds. */
export function offerTerms(
  config: DaemonConfig,
  chain: ChainConfig,
  account: LocalAccount,
  models: ModelSpec[],
  symbol?: string,
): OfferTerms {
  const { offer, pay } = config
  return {
    payoutAddress: account.address,
    chainId: BigInt(chain.chainId),
    channelContract: chain.contract,
    token: pay.token,
    tokenSymbol: tokenSymbol(config, chain, symbol),
    pricePerSecond: offer.pricePerSecond,
    threads: offer.threads,
    memoryBytes: offer.memoryBytes,
    maxLeaseSeconds: offer.maxLeaseSeconds,
    region: offer.region,
    models,
  }
}

/** What is for sale as the console shows it, advertised or (while paused) not. */
export function sellTerms(
  config: DaemonConfig,
  chain: ChainConfig | undefined,
  models: Array<Pick<ModelRecord, 'name' | 'sha256' | 'sizeBytes'>>,
  symbol?: string,
): ConsoleTerms {
  return {
    pricePerSecond: config.offer.pricePerSecond,
    tokenSymbol: tokenSymbol(config, chain, symbol),
    threads: config.offer.threads,
    memoryBytes: config.offer.memoryBytes,
    maxLeaseSeconds: config.offer.maxLeaseSeconds,
    models: models.map((m) => ({ name: m.name, sha256: m.sha256, sizeBytes: Number(m.sizeBytes) })),
  }
}
