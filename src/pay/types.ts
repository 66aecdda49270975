import type { Address, Hex } from 'viem'

/** The hash of a tick chain. keccak256 is the default: see protocols/README.md (section pay) for the numbers. */
export type HashFunctionName = 'keccak256' | 'sha256'

/** A renter-signed cumulative voucher: the renter has authorised `total` to the provider on `channelId`. */
export interface Voucher {
  chainId: number
  contract: Address
  channelId: Hex
  total: bigint
  signature: Hex
}

/** The unsigned tick commitment a renter signs at lease start. Tick k is worth baseAmount + k * amountPerTick. */
export interface TickCommitment {
  chainId: number
  contract: Address
  channelId: Hex
  leaseId: Hex
  /** h_n of the chain, n = maxTicks. */
  tip: Hex
  hashFunction: HashFunctionName
  amountPerTick: bigint
  /** The channel's cumulative total at lease start. */
  baseAmount: bigint
  maxTicks: number
}

export interface SignedTickCommitment {
  commitment: TickCommitment
  signature: Hex
}

/** One second of a lease: tick `index` (k) reveals h_{n-k}. */
export interface Tick {
  leaseId: Hex
  index: number
  preimage: Uint8Array
}

/** What the provider can settle on-chain for a channel: the proof with the highest total. */
export type PaymentProof =
  | { kind: 'voucher'; total: bigint; voucher: Voucher }
  | { kind: 'ticks'; total: bigint; commitment: SignedTickCommitment; ticks: number; preimage: Hex }

/** The on-chain state of a channel. */
export interface ChannelState {
  channelId: Hex
  renter: Address
  provider: Address
  /** The one provider node that serves the channel: {@link providerNodeId} of its peer id. */
  providerNode: Hex
  /** The zero address for native ETH. */
  token: Address
  deposit: bigint
  settled: bigint
  /** Unix seconds of the renter's close request; 0n while open. */
  closeRequestedAt: bigint
  /** closeRequestedAt + challenge period; 0n while open. */
  closeDeadline: bigint
}
