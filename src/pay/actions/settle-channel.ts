import type { AbortOptions } from '@libp2p/interface'
import type { Address, Hex } from 'viem'
import type { PayWalletClient } from '../clients.js'
import { PAYMENT_CHANNEL_ABI } from '../contract/artifact.js'
import { normalizeSignature, tickCommitmentStruct } from '../eip712.js'
import type { PaymentProof, SignedTickCommitment, Voucher } from '../types.js'
import { findEvent, type WriteRequest, writeAndWait } from './internal.js'

export interface SettleReturnType {
  /** The channel's settled total after this transaction. */
  total: bigint
  /** What this transaction paid the provider: total minus what was settled before. */
  paid: bigint
  transactionHash: Hex
  gasUsed: bigint
  /** What each unit of gas cost (from the receipt): the transaction's fee is gasUsed x effectiveGasPrice. */
  effectiveGasPrice: bigint
}

export interface SettleVoucherParameters {
  contract: Address
  voucher: Voucher
}

export interface SettleTicksParameters {
  contract: Address
  commitment: SignedTickCommitment
  /** k: how many ticks of the lease to settle. */
  ticks: number
  /** h_{n-k}, the k-th tick's preimage. */
  preimage: Hex
}

export interface SettleProofParameters {
  contract: Address
  proof: PaymentProof
}

/** A gas limit and fee caps to send with, instead of viem's own estimate at send time. */
export interface SettleGasLimits {
  gas?: bigint
  maxFeePerGas?: bigint
  maxPriorityFeePerGas?: bigint
  /** Legacy (pre-EIP-1559) chains. */
  gasPrice?: bigint
}

export interface SettleOptions extends AbortOptions {
  /** Called with the transaction hash once sent, before waiting for the receipt (the settler records it). */
  onSent?: (hash: Hex) => void | Promise<void>
  /**
   * Send with this gas limit and these fee caps (the settler passes the estimate it weighed against the gain, so the
   * transaction can never cost more than that).
   */
  limits?: SettleGasLimits
}

function settled(receipt: Awaited<ReturnType<typeof writeAndWait>>, contract: Address): SettleReturnType {
  const event = findEvent(receipt, contract, 'ChannelSettled')
  return {
    total: event.total as bigint,
    paid: event.paid as bigint,
    transactionHash: receipt.transactionHash,
    gasUsed: receipt.gasUsed,
    effectiveGasPrice: receipt.effectiveGasPrice,
  }
}

/** The contract call that settles a proof: `settle` for a voucher, `settleTicks` for ticks (signatures normalised). */
export function settleCall(contract: Address, proof: PaymentProof) {
  if (proof.kind === 'voucher') {
    const v = proof.voucher
    return {
      address: contract,
      abi: PAYMENT_CHANNEL_ABI,
      functionName: 'settle' as const,
      // Low s and v in {27, 28}: the form the contract accepts (a receiver only stores such signatures anyway).
      args: [v.channelId, v.total, normalizeSignature(v.signature)] as const,
    }
  }
  return {
    address: contract,
    abi: PAYMENT_CHANNEL_ABI,
    functionName: 'settleTicks' as const,
    args: [
      tickCommitmentStruct(proof.commitment.commitment),
      normalizeSignature(proof.commitment.signature),
      proof.preimage,
      proof.ticks,
    ] as const,
  }
}

async function send(client: PayWalletClient, contract: Address, proof: PaymentProof, options: SettleOptions) {
  const receipt = await writeAndWait(
    client,
    { ...settleCall(contract, proof), ...options.limits } as WriteRequest,
    options,
    options.onSent,
  )
  return settled(receipt, contract)
}

/**
 * Settle a renter-signed cumulative voucher (provider only). Pays `total - settled`; the channel stays open.
 *
 * @example
 * const { paid } = await settleVoucher(providerWallet, { contract, voucher })
 */
export async function settleVoucher(
  client: PayWalletClient,
  params: SettleVoucherParameters,
  options: SettleOptions = {},
): Promise<SettleReturnType> {
  return send(
    client,
    params.contract,
    { kind: 'voucher', total: params.voucher.total, voucher: params.voucher },
    options,
  )
}

/**
 * Settle `ticks` seconds of a lease with its signed commitment and the k-th preimage (provider only). The contract
 * hashes the preimage k times to the tip: gas grows with k (see protocols/README.md).
 *
 * @example
 * await settleTicks(providerWallet, { contract, commitment, ticks: 60, preimage })
 */
export async function settleTicks(
  client: PayWalletClient,
  params: SettleTicksParameters,
  options: SettleOptions = {},
): Promise<SettleReturnType> {
  const c = params.commitment.commitment
  const total = c.baseAmount + BigInt(params.ticks) * c.amountPerTick
  return send(
    client,
    params.contract,
    { kind: 'ticks', total, commitment: params.commitment, ticks: params.ticks, preimage: params.preimage },
    options,
  )
}

/**
 * Settle whichever proof the store holds (voucher or ticks).
 *
 * @example
 * const proof = await receiver.bestProof(channelId)
 * if (proof != null) await settleProof(providerWallet, { contract, proof })
 */
export async function settleProof(
  client: PayWalletClient,
  params: SettleProofParameters,
  options: SettleOptions = {},
): Promise<SettleReturnType> {
  const { proof } = params
  if (proof.kind === 'voucher')
    return settleVoucher(client, { contract: params.contract, voucher: proof.voucher }, options)
  return settleTicks(
    client,
    { contract: params.contract, commitment: proof.commitment, ticks: proof.ticks, preimage: proof.preimage },
    options,
  )
}
