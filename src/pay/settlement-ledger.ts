import { type Address, type Hex, zeroAddress } from 'viem'
import type { PaymentStore, StoreOperation } from './payment-store.js'
import type { SettleReason } from './settlement-types.js'

/** Store key prefixes: one record per settlement transaction, one write-off per channel. */
export const HISTORY_PREFIX = 'settle/history/'
export const WRITTEN_OFF_PREFIX = 'settle/written-off/'

/** A settlement transaction with its receipt: what was paid and what the gas cost. */
export interface SettlementRecord {
  channelId: Hex
  /** The channel's token; the zero address for native ETH. */
  token: Address
  /** Why it was sent (a settlement resumed after a restart keeps the reason it was first decided for). */
  reason: SettleReason
  kind: 'voucher' | 'ticks'
  /** 'reverted': the transaction was mined but failed; it paid nothing and its gas still counts. */
  status: 'settled' | 'reverted'
  /** The channel's settled total after the transaction (the proof's total for a reverted one). */
  total: bigint
  /** What the transaction paid the provider, in token units. */
  paid: bigint
  gasUsed: bigint
  effectiveGasPrice: bigint
  /** gasUsed x effectiveGasPrice, in wei. */
  gasCost: bigint
  transactionHash: Hex
  /** Unix milliseconds when the receipt was recorded. */
  settledAt: number
}

/** An amount given up: inside the close window it was worth less than the gas to settle it. */
export interface WriteOff {
  channelId: Hex
  token: Address
  /** The proof's total and the channel's settled total when written off. */
  total: bigint
  settled: bigint
  /** total - settled, in token units: what the renter takes back after the window. */
  amount: bigint
  estimatedGas: bigint
  feePerGas: bigint
  /** estimatedGas x feePerGas, in wei. */
  estimatedCost: bigint
  /** The cost in token units (equal to estimatedCost for native; undefined for an ERC-20 without a rate). */
  estimatedCostInToken: bigint | undefined
  reason: 'closing'
  /** Unix seconds when the renter may withdraw. */
  closeDeadline: bigint
  writtenOffAt: number
}

export interface ChannelEarnings {
  channelId: Hex
  token: Address
  paid: bigint
  /** Wei spent on this channel's settlement transactions (reverted ones included). */
  gasSpent: bigint
  writtenOff: bigint
  settlements: number
}

export interface TokenEarnings {
  /** The zero address for native ETH. */
  token: Address
  native: boolean
  /** Gross: everything settlements paid, in token units. */
  paid: bigint
  /** Wei spent on gas settling this token's channels. */
  gasSpent: bigint
  /** Native: paid - gasSpent (wei). ERC-20: paid (token units; the gas is in gasSpent, in wei). */
  net: bigint
  /** Amounts written off inside close windows, in token units. */
  writtenOff: bigint
  settlements: number
  channels: ChannelEarnings[]
}

export interface Earnings {
  /** Native ETH first, then ERC-20s by address. */
  tokens: TokenEarnings[]
  /** Wei spent on gas across all tokens. */
  gasSpent: bigint
}

/** The store operations that record a settlement (with the settler's own, written in one batch). */
export function historyOperation(record: SettlementRecord): StoreOperation {
  // Keyed by transaction: recording the same receipt twice (a resume after a crash) stays one record.
  return { type: 'put', key: HISTORY_PREFIX + record.transactionHash.toLowerCase(), value: record }
}

export function writeOffKey(channelId: Hex): string {
  return WRITTEN_OFF_PREFIX + channelId.toLowerCase()
}

/** Every recorded settlement, oldest first. */
export async function readHistory(store: PaymentStore): Promise<SettlementRecord[]> {
  const records = (await store.list<SettlementRecord>(HISTORY_PREFIX)).map(([, r]) => r)
  return records.sort((a, b) => a.settledAt - b.settledAt)
}

export async function readWriteOffs(store: PaymentStore): Promise<WriteOff[]> {
  return (await store.list<WriteOff>(WRITTEN_OFF_PREFIX)).map(([, w]) => w)
}

/** Per-token and per-channel totals of settlements and write-offs. */
export function summarizeEarnings(history: SettlementRecord[], writeOffs: WriteOff[]): Earnings {
  const tokens = new Map<string, TokenEarnings>()
  const channels = new Map<string, ChannelEarnings>()
  const channel = (channelId: Hex, token: Address): ChannelEarnings => {
    const id = channelId.toLowerCase()
    let c = channels.get(id)
    if (c == null) {
      c = { channelId: id as Hex, token, paid: 0n, gasSpent: 0n, writtenOff: 0n, settlements: 0 }
      channels.set(id, c)
    }
    return c
  }
  for (const r of history) {
    const c = channel(r.channelId, r.token)
    c.paid += r.paid
    c.gasSpent += r.gasCost
    if (r.status === 'settled') c.settlements++
  }
  for (const w of writeOffs) channel(w.channelId, w.token).writtenOff += w.amount
  let gasSpent = 0n
  for (const c of [...channels.values()].sort((a, b) => (a.channelId < b.channelId ? -1 : 1))) {
    const key = c.token.toLowerCase()
    let t = tokens.get(key)
    if (t == null) {
      const native = key === zeroAddress
      t = { token: c.token, native, paid: 0n, gasSpent: 0n, net: 0n, writtenOff: 0n, settlements: 0, channels: [] }
      tokens.set(key, t)
    }
    t.paid += c.paid
    t.gasSpent += c.gasSpent
    t.writtenOff += c.writtenOff
    t.settlements += c.settlements
    t.channels.push(c)
    gasSpent += c.gasSpent
  }
  for (const t of tokens.values()) t.net = t.native ? t.paid - t.gasSpent : t.paid
  const sorted = [...tokens.values()].sort((a, b) =>
    a.native !== b.native ? (a.native ? -1 : 1) : a.token.toLowerCase() < b.token.toLowerCase() ? -1 : 1,
  )
  return { tokens: sorted, gasSpent }
}
