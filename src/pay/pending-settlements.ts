import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import {
  type Address,
  type Hex,
  TransactionNotFoundError,
  type TransactionReceipt,
  TransactionReceiptNotFoundError,
  zeroAddress,
} from 'viem'
import { getTransaction, getTransactionReceipt, waitForTransactionReceipt } from 'viem/actions'
import { findEvent, toPayError, withSignal } from './actions/internal.js'
import type { ChannelStateCache } from './channel-state-cache.js'
import type { PayWalletClient } from './clients.js'
import { ChainError } from './errors.js'
import type { PaymentStore, StoreOperation } from './payment-store.js'
import type { SettleMemo } from './settle-memo.js'
import { historyOperation, type SettlementRecord, writeOffKey } from './settlement-ledger.js'
import type { SettlementResult, SettleReason } from './settlement-types.js'

const log = logger('parkbench:pay:settler')

const PENDING = 'settle/pending/'
/** How long a resumed settlement waits for its transaction, still in the mempool, before the next pass looks again. */
const RESUME_RECEIPT_WAIT_MS = 10_000

/** A settlement recorded before it is sent; resumed at start if the process died before the receipt. */
export interface PendingSettlement {
  channelId: Hex
  total: bigint
  kind: 'voucher' | 'ticks'
  /** Why it was decided: a resumed settlement is weighed again by the same rule. */
  reason: SettleReason
  /** The channel's token (so a receipt found after a restart is recorded under it). */
  token?: Address
  /** Sent on command with `force`. */
  force?: boolean
  transactionHash?: Hex
  createdAt: number
}

export interface PendingSettlementsComponents {
  store: PaymentStore
  wallet: PayWalletClient
  channels: ChannelStateCache
  /** Cleared of a channel once it is settled. */
  memo: SettleMemo
}

/** Settlements recorded before they are sent, recovered from their receipts after a restart, and their history. */
export class PendingSettlements {
  private readonly store: PaymentStore
  private readonly wallet: PayWalletClient
  private readonly channels: ChannelStateCache
  private readonly memo: SettleMemo
  private readonly contract: Address

  constructor(components: PendingSettlementsComponents, init: { contract: Address }) {
    this.store = components.store
    this.wallet = components.wallet
    this.channels = components.channels
    this.memo = components.memo
    this.contract = init.contract
  }

  /** Settlements recorded but not confirmed. */
  async list(): Promise<PendingSettlement[]> {
    return (await this.store.list<PendingSettlement>(PENDING)).map(([, p]) => p)
  }

  get(channelId: Hex): Promise<PendingSettlement | undefined> {
    return this.store.get<PendingSettlement>(PENDING + channelId)
  }

  put(pending: PendingSettlement, options: AbortOptions = {}): Promise<void> {
    return this.store.put(PENDING + pending.channelId, pending, options)
  }

  delete(channelId: Hex, options: AbortOptions = {}): Promise<void> {
    return this.store.del(PENDING + channelId, options)
  }

  /** The operation that deletes a channel's pending record, for a batch written elsewhere. */
  deleteOperation(channelId: Hex): StoreOperation {
    return { type: 'del', key: PENDING + channelId }
  }

  /** Record a confirmed settlement and clear its pending record (and any write-off) in one batch. */
  async recordSettled(result: SettlementResult, decidedFor: SettleReason): Promise<void> {
    const record: SettlementRecord = {
      channelId: result.channelId,
      token: result.token,
      reason: decidedFor,
      kind: result.kind,
      status: 'settled',
      total: result.total,
      paid: result.paid,
      gasUsed: result.gasUsed,
      effectiveGasPrice: result.effectiveGasPrice,
      gasCost: result.gasCost,
      transactionHash: result.transactionHash,
      settledAt: Date.now(),
    }
    // Not tied to the caller's signal: the money moved, its record must be written.
    await this.store.write([
      historyOperation(record),
      this.deleteOperation(result.channelId),
      { type: 'del', key: writeOffKey(result.channelId) },
    ])
    this.memo.settled(result.channelId)
  }

  /** Record a sent settlement's transaction if it was mined and reverted (its gas is spent all the same). */
  async recordReverted(hash: Hex, pending: PendingSettlement): Promise<void> {
    const receipt = await getTransactionReceipt(this.wallet, { hash })
    if (receipt.status !== 'reverted') return
    await this.writeReverted(receipt, pending)
  }

  /**
   * A pending settlement whose transaction was sent: record its receipt if it was mined; 'waiting' while the
   * transaction is still in the mempool; undefined when it was dropped or reverted (decide again).
   */
  async recoverSent(p: PendingSettlement, options: AbortOptions): Promise<SettlementResult | 'waiting' | undefined> {
    const hash = p.transactionHash!
    let receipt: TransactionReceipt | undefined
    try {
      // Checked before the call: withSignal would leave an already-aborted call's promise unhandled.
      options.signal?.throwIfAborted()
      receipt = await withSignal(getTransactionReceipt(this.wallet, { hash }), options)
    } catch (err) {
      if (!(err instanceof TransactionReceiptNotFoundError)) throw toPayError(err)
    }
    if (receipt == null) {
      try {
        options.signal?.throwIfAborted()
        await withSignal(getTransaction(this.wallet, { hash }), options)
      } catch (err) {
        if (err instanceof TransactionNotFoundError) return undefined
        throw toPayError(err)
      }
      // Known but not mined: wait a little, then leave it for the next pass rather than send a second one.
      try {
        const signal = AbortSignal.any([
          AbortSignal.timeout(RESUME_RECEIPT_WAIT_MS),
          ...(options.signal ? [options.signal] : []),
        ])
        options.signal?.throwIfAborted()
        receipt = await withSignal(waitForTransactionReceipt(this.wallet, { hash, timeout: RESUME_RECEIPT_WAIT_MS }), {
          signal,
        })
      } catch {
        options.signal?.throwIfAborted()
        log('settlement %s of %s is still not mined', hash, p.channelId)
        return 'waiting'
      }
    }
    if (receipt.status !== 'success') {
      await this.writeReverted(receipt, p)
      return undefined
    }
    let event: Record<string, any>
    try {
      event = findEvent(receipt, this.contract, 'ChannelSettled')
    } catch (err) {
      throw new ChainError(`Transaction ${hash} settled nothing`, { cause: err })
    }
    this.channels.invalidate(p.channelId)
    const result: SettlementResult = {
      channelId: p.channelId,
      reason: 'resume',
      kind: p.kind,
      token: await this.tokenOf(p),
      total: event.total as bigint,
      paid: event.paid as bigint,
      transactionHash: receipt.transactionHash,
      gasUsed: receipt.gasUsed,
      effectiveGasPrice: receipt.effectiveGasPrice,
      gasCost: receipt.gasUsed * receipt.effectiveGasPrice,
    }
    await this.recordSettled(result, p.reason)
    log('settlement of %s confirmed after a restart: paid %s (tx %s)', p.channelId, result.paid, hash)
    return result
  }

  private async writeReverted(receipt: TransactionReceipt, pending: PendingSettlement): Promise<void> {
    const record: SettlementRecord = {
      channelId: pending.channelId,
      token: await this.tokenOf(pending),
      reason: pending.reason,
      kind: pending.kind,
      status: 'reverted',
      total: pending.total,
      paid: 0n,
      gasUsed: receipt.gasUsed,
      effectiveGasPrice: receipt.effectiveGasPrice,
      gasCost: receipt.gasUsed * receipt.effectiveGasPrice,
      transactionHash: receipt.transactionHash,
      settledAt: Date.now(),
    }
    await this.store.write([historyOperation(record), this.deleteOperation(pending.channelId)])
    log.error(
      'settlement of %s reverted (tx %s, %s wei of gas)',
      pending.channelId,
      receipt.transactionHash,
      record.gasCost,
    )
  }

  /** A pending record's token; records written before tokens were recorded fall back to the channel's state. */
  private async tokenOf(p: PendingSettlement): Promise<Address> {
    if (p.token != null) return p.token
    const state = await this.channels.get(p.channelId).catch(() => undefined)
    return state?.token ?? zeroAddress
  }
}
