/**
 * When a settlement is worth its gas. Pure functions: the settler reads the chain (proof, on-chain settled, gas
 * estimate, fee per gas) and asks these what to do, so the rules live in one place and read like the README.
 *
 * Three bases, by who wants the settlement:
 * - `voluntary` (over the threshold, a broken lease): only when gain >= minGainOverGas x cost (default 2), and always
 *   gain > cost, whatever the multiplier, so the provider never pays more gas than it is paid by its own choice;
 * - `closing` (the renter requested close; after the window the renter takes back whatever is unsettled): when
 *   gain > cost. Otherwise the amount is written off: settling would lose more in gas than it brings;
 * - `command` (the operator asked): when gain > cost, or always with `force`.
 *
 * The gain is in the channel's token, the cost in wei. Native channels compare directly; an ERC-20 channel needs the
 * provider's rate (`tokenPerNativeWei`). Without it the gas cannot be priced: such a channel is settled when the close
 * window forces it or on command, never voluntarily.
 */

/** A rational number: numerator / denominator, both bigints (denominator > 0). */
export interface Ratio {
  numerator: bigint
  denominator: bigint
}

/** A multiplier: an integer (`2n`) or a ratio (`{ numerator: 3n, denominator: 2n }` for 1.5). */
export type GasMultiplier = bigint | Ratio

/** The default minGainOverGas: a voluntary settlement must bring at least twice its gas. */
export const DEFAULT_MIN_GAIN_OVER_GAS = 2n

export type SettleBasis = 'voluntary' | 'closing' | 'command'

/** Why a settlement was not sent. */
export type SkipCause =
  /** Voluntary: gain below minGainOverGas x cost. */
  | 'below-min-gain'
  /** Closing or command: gain not above the gas cost. */
  | 'below-gas-cost'
  /** Voluntary on an ERC-20 channel without a token rate: the gas cannot be priced in tokens. */
  | 'no-token-rate'

export type SettleDecision =
  | { settle: true; forced: boolean }
  | {
      settle: false
      cause: SkipCause
      /** The gain (token units) at which this rule would settle; undefined when the gas cannot be priced. */
      requiredGain: bigint | undefined
    }

export interface SettleDecisionInput {
  basis: SettleBasis
  /** total - settled, in token units. */
  gain: bigint
  /** The estimated gas cost in token units; undefined for an ERC-20 channel without a rate. */
  cost: bigint | undefined
  /** On command only: settle whatever the numbers. */
  force?: boolean
  minGainOverGas?: GasMultiplier
}

export function toRatio(multiplier: GasMultiplier): Ratio {
  const ratio = typeof multiplier === 'bigint' ? { numerator: multiplier, denominator: 1n } : multiplier
  if (ratio.denominator <= 0n || ratio.numerator < 0n)
    throw new RangeError('A gas ratio needs numerator >= 0, denominator > 0')
  return ratio
}

/** a x ratio, rounded up (a cost is never underestimated). */
export function mulRatioCeil(a: bigint, ratio: Ratio): bigint {
  return (a * ratio.numerator + ratio.denominator - 1n) / ratio.denominator
}

/**
 * The gas cost in the channel's token: wei for a native channel; for an ERC-20, wei x tokenPerNativeWei rounded up,
 * or undefined without a rate.
 */
export function gasCostInToken(costWei: bigint, native: boolean, tokenPerNativeWei?: Ratio): bigint | undefined {
  if (native) return costWei
  if (tokenPerNativeWei == null) return undefined
  return mulRatioCeil(costWei, toRatio(tokenPerNativeWei))
}

/** Decide one settlement by the rules above. */
export function decideSettlement(input: SettleDecisionInput): SettleDecision {
  const { basis, gain, cost } = input
  if (basis === 'command' && input.force === true) return { settle: true, forced: true }
  if (cost == null) {
    // No rate: only a close window (or the operator) may spend gas that cannot be priced.
    if (basis === 'voluntary') return { settle: false, cause: 'no-token-rate', requiredGain: undefined }
    return { settle: true, forced: true }
  }
  if (basis === 'voluntary') {
    const ratio = toRatio(input.minGainOverGas ?? DEFAULT_MIN_GAIN_OVER_GAS)
    // gain >= multiplier x cost, and gain > cost even when the multiplier is below 1.
    const atLeast = mulRatioCeil(cost, ratio)
    const required = atLeast > cost ? atLeast : cost + 1n
    if (gain >= required) return { settle: true, forced: false }
    return { settle: false, cause: 'below-min-gain', requiredGain: required }
  }
  if (gain > cost) return { settle: true, forced: false }
  return { settle: false, cause: 'below-gas-cost', requiredGain: cost + 1n }
}
