/** The settler's vocabulary, shared by its pieces (settler.ts re-exports the public types). */
import type { Address, Hex } from 'viem'
import type { SettleReturnType } from './actions/settle-channel.js'
import type { SkipCause } from './settle-policy.js'

/**
 * Why a settlement was sent: on command, over the threshold, the renter asked to close, resumed after a restart,
 * or a lease ended badly (the renter vanished or stopped paying) so the provider does not wait to be paid.
 */
export type SettleReason = 'command' | 'threshold' | 'closing' | 'resume' | 'lease-broken'

export interface SettlementResult extends SettleReturnType {
  channelId: Hex
  reason: SettleReason
  kind: 'voucher' | 'ticks'
  /** The channel's token; the zero address for native ETH. */
  token: Address
  /** gasUsed x effectiveGasPrice, in wei. */
  gasCost: bigint
}

/** A settlement the settler decided not to send, with the numbers it decided on. */
export interface SkippedSettlement {
  channelId: Hex
  reason: SettleReason
  cause: SkipCause
  token: Address
  /** The proof that was weighed. */
  kind: 'voucher' | 'ticks'
  total: bigint
  /** On-chain settled total. */
  settled: bigint
  /** total - settled, in token units. */
  gain: bigint
  estimatedGas: bigint
  feePerGas: bigint
  /** estimatedGas x feePerGas, in wei. */
  estimatedCost: bigint
  /** The cost in token units (= estimatedCost for native); undefined for an ERC-20 without tokenPerNativeWei. */
  estimatedCostInToken: bigint | undefined
  /** The gain at which this rule would settle; undefined when the gas cannot be priced. */
  requiredGain: bigint | undefined
  /** Inside a close window: the amount is given up and recorded (see {@link Settler.earnings}). */
  writtenOff: boolean
}

/** What one settle call did: the settlements sent and confirmed, and the ones not worth their gas. */
export interface SettleReport {
  settled: SettlementResult[]
  skipped: SkippedSettlement[]
}

/** How one channel's settlement is asked for. */
export interface SettleRequest {
  /** What the result reports ('resume' for a resumed one). */
  reason: SettleReason
  /** Which rule weighs it. */
  decidedFor: SettleReason
  force: boolean
}

/** What one channel's settlement did: sent and confirmed, not worth its gas, or nothing to do. */
export type SettleOutcome = { settled: SettlementResult } | { skipped: SkippedSettlement } | undefined

/**
 * What the settler reports as it works, one typed union (`type` as `<area>:<what>`): a settlement confirmed, or one
 * not sent because it was not worth its gas (written-off ones included).
 */
export type SettlerEvent =
  | { type: 'settle:settled'; result: SettlementResult }
  | { type: 'settle:skipped'; skipped: SkippedSettlement }
