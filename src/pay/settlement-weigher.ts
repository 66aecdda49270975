import type { AbortOptions } from '@libp2p/interface'
import { type Address, type Hex, isAddressEqual, zeroAddress } from 'viem'
import { type EstimateSettleReturnType, estimateSettle, getSettleFeesPerGas } from './actions/estimate-settle.js'
import type { PayWalletClient } from './clients.js'
import type { PaymentReceiver } from './payment-receiver.js'
import { decideSettlement, type GasMultiplier, gasCostInToken, type Ratio, type SettleBasis } from './settle-policy.js'
import type { SettleReason, SettleRequest, SkippedSettlement } from './settlement-types.js'
import type { ChannelState, PaymentProof } from './types.js'

export interface SettlementWeigherComponents {
  /** Estimates gas and reads fees. */
  wallet: PayWalletClient
  /** The channel's last voucher, settled instead of a tick proof whose ticks do not pay for their extra gas. */
  receiver: Pick<PaymentReceiver, 'bestVoucher'>
}

export interface SettlementWeigherInit {
  contract: Address
  minTickGain: bigint
  minGainOverGas: GasMultiplier
  tokenPerNativeWei: Ratio | undefined
}

/** One channel's settlement weighed: the proof chosen, its estimate and cost, and the skip if it is not worth it. */
export interface Weighing {
  proof: PaymentProof
  estimate: EstimateSettleReturnType
  /** proof.total - settled, in token units. */
  gain: bigint
  /** The estimated gas cost in token units; undefined for an ERC-20 channel without a rate. */
  cost: bigint | undefined
  basis: SettleBasis
  /** Set when the rule says not to send it. */
  skipped?: SkippedSettlement
}

/** Weighs one channel's settlement: the proof to send (best or last voucher), its gas estimate and the policy. */
export class SettlementWeigher {
  private readonly wallet: PayWalletClient
  private readonly receiver: Pick<PaymentReceiver, 'bestVoucher'>
  private readonly contract: Address
  private readonly minTickGain: bigint
  private readonly minGainOverGas: GasMultiplier
  private readonly tokenPerNativeWei: Ratio | undefined

  constructor(components: SettlementWeigherComponents, init: SettlementWeigherInit) {
    this.wallet = components.wallet
    this.receiver = components.receiver
    this.contract = init.contract
    this.minTickGain = init.minTickGain
    this.minGainOverGas = init.minGainOverGas
    this.tokenPerNativeWei = init.tokenPerNativeWei
  }

  /** Choose the proof, estimate it at today's fees and ask settle-policy.ts whether it is worth its gas. */
  async weigh(
    channelId: Hex,
    state: ChannelState,
    best: PaymentProof,
    request: SettleRequest,
    options: AbortOptions,
  ): Promise<Weighing> {
    const fees = await getSettleFeesPerGas(this.wallet, options)
    const { proof, estimate } = await this.chooseProof(channelId, state, best, fees, options)
    const native = isAddressEqual(state.token, zeroAddress)
    const gain = proof.total - state.settled
    const cost = gasCostInToken(estimate.cost, native, this.tokenPerNativeWei)
    const basis = basisFor(request.decidedFor, state)
    const decision = decideSettlement({
      basis,
      gain,
      cost,
      force: request.force,
      minGainOverGas: this.minGainOverGas,
    })
    const weighing: Weighing = { proof, estimate, gain, cost, basis }
    if (!decision.settle) {
      weighing.skipped = {
        channelId,
        reason: request.reason,
        cause: decision.cause,
        token: state.token,
        kind: proof.kind,
        total: proof.total,
        settled: state.settled,
        gain,
        estimatedGas: estimate.gas,
        feePerGas: estimate.feePerGas,
        estimatedCost: estimate.cost,
        estimatedCostInToken: cost,
        requiredGain: decision.requiredGain,
        writtenOff: basis === 'closing',
      }
    }
    return weighing
  }

  /**
   * The proof to settle with its estimate: the best one, or the last voucher when the ticks above it gain less than
   * minTickGain, or less than the extra gas they cost.
   */
  private async chooseProof(
    channelId: Hex,
    state: ChannelState,
    best: PaymentProof,
    fees: EstimateSettleReturnType['fees'],
    options: AbortOptions,
  ): Promise<{ proof: PaymentProof; estimate: EstimateSettleReturnType }> {
    const estimate = (proof: PaymentProof) =>
      estimateSettle(this.wallet, { contract: this.contract, proof, fees }, options).then((e) => ({
        proof,
        estimate: e,
      }))
    const voucher = best.kind === 'ticks' ? this.receiver.bestVoucher(channelId) : undefined
    if (voucher == null || voucher.total <= state.settled) return estimate(best)
    const cheaper: PaymentProof = { kind: 'voucher', total: voucher.total, voucher }
    const extra = best.total - voucher.total
    if (this.minTickGain > 0n && extra < this.minTickGain) return estimate(cheaper)
    const ticks = await estimate(best)
    const byVoucher = await estimate(cheaper)
    const extraGas = ticks.estimate.cost - byVoucher.estimate.cost
    const extraCost = gasCostInToken(
      extraGas > 0n ? extraGas : 0n,
      isAddressEqual(state.token, zeroAddress),
      this.tokenPerNativeWei,
    )
    return extraCost != null && extra <= extraCost ? byVoucher : ticks
  }
}

/** The rule a settlement is weighed by; a voluntary one inside a close window is weighed as closing. */
export function basisFor(decidedFor: SettleReason, state: ChannelState): SettleBasis {
  if (decidedFor === 'closing') return 'closing'
  if (decidedFor === 'threshold' || decidedFor === 'lease-broken') {
    return state.closeRequestedAt !== 0n ? 'closing' : 'voluntary'
  }
  return 'command'
}
