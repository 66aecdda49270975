import type { ConfigInput, DaemonConfig } from '../daemon/config.js'
import { InvalidInputError } from '../errors.js'
import { InvalidAmountError, MAX_PRICE_PER_SECOND, parseAmount, parseRate } from '../pay/amounts.js'
import type { ChainConfig } from '../pay/chain-config.js'
import { needsUnits, unitsOfToken } from './amounts.js'

/** A price or threshold written in human units (`10gwei/s`), and where it was written, for the error message. */
interface HumanAmount {
  text: string
  where: string
}

/** The daemon's amounts that need its token's decimals before they mean anything. */
export interface HumanAmounts {
  pricePerSecond?: HumanAmount
  settleThreshold?: HumanAmount
}

/**
 * Take the amounts written in human units out of the config layers (config.json, then the flags): they stay text
 * until the chain says the token's decimals ({@link applyHumanAmounts}). Plain integers stay where they are, base
 * units as before; a later layer overrides an earlier one either way.
 */
export function takeHumanAmounts(layers: Array<{ input: ConfigInput; where: 'file' | 'flags' }>): HumanAmounts {
  const human: HumanAmounts = {}
  for (const { input, where } of layers) {
    const price = input.offer?.pricePerSecond
    if (typeof price === 'string' && needsUnits(price)) {
      human.pricePerSecond = { text: price, where: where === 'flags' ? '--price' : 'offer.pricePerSecond' }
      delete input.offer!.pricePerSecond
    } else if (price != null) {
      delete human.pricePerSecond
    }
    const threshold = input.pay?.settleThreshold
    if (typeof threshold === 'string' && needsUnits(threshold)) {
      human.settleThreshold = {
        text: threshold,
        where: where === 'flags' ? '--settle-threshold' : 'pay.settleThreshold',
      }
      delete input.pay!.settleThreshold
    } else if (threshold != null) {
      delete human.settleThreshold
    }
  }
  return human
}

/** Read human amounts in the units of the token the daemon sells in (ETH, or the ERC-20's own decimals). */
export async function applyHumanAmounts(
  config: DaemonConfig,
  human: HumanAmounts,
  chain: ChainConfig,
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  if (human.pricePerSecond == null && human.settleThreshold == null) {
    // A base-unit price is checked too: the wire's uint64 would wrap a larger one into a tiny price.
    if (config.offer.pricePerSecond > MAX_PRICE_PER_SECOND) {
      throw new InvalidAmountError(`The price ${config.offer.pricePerSecond} is more than a uint64 price can be`)
    }
    return
  }
  const units = await unitsOfToken(config.pay.token, { chain }, options)
  if (units == null) throw new InvalidInputError('The token is not on this chain: give amounts in base units')
  if (human.pricePerSecond != null) {
    config.offer.pricePerSecond = parseRate(human.pricePerSecond.text, units, human.pricePerSecond.where)
  }
  if (human.settleThreshold != null) {
    config.pay.settleThreshold = parseAmount(human.settleThreshold.text, units, human.settleThreshold.where)
  }
}
