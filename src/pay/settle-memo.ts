import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { isAddressEqual, zeroAddress } from 'viem'
import type { PaymentStore, StoreOperation } from './payment-store.js'
import { readWriteOffs, type WriteOff, writeOffKey } from './settlement-ledger.js'
import type { SkippedSettlement } from './settlement-types.js'
import type { ChannelState } from './types.js'

const log = logger('parkbench:pay:settler')

/** A voluntary settlement found not worth its gas is weighed again when its proof grows, or after this (fees move). */
export const SKIP_RECHECK_MS = 60_000

/** A channel's proof total when it was last weighed, and when (Unix milliseconds). */
export interface WeighedTotal {
  total: bigint
  at: number
}

/** What the settler remembers of channels it did not settle: hopeless ones, write-offs, recent not-worth-it ones. */
export class SettleMemo {
  private readonly store: PaymentStore
  // Channels whose proof can no longer be paid (window over, channel gone): not retried every pass.
  private readonly hopeless = new Set<string>()
  // Written-off channels (loaded from the store): the total given up and when it was last weighed. Weighed again
  // once a minute while the window lasts (fees may fall) or when the proof grows; recorded and logged once.
  private writtenOff: Map<string, WeighedTotal> | undefined
  // Voluntary settlements not worth their gas: total and time, so a pass does not re-estimate them every time.
  private readonly notWorthIt = new Map<string, WeighedTotal>()

  constructor(store: PaymentStore) {
    this.store = store
  }

  isHopeless(channelId: string): boolean {
    return this.hopeless.has(channelId)
  }

  markHopeless(channelId: string): void {
    this.hopeless.add(channelId)
  }

  /** Whether a voluntary settlement of this total was found not worth its gas within the last minute. */
  notWorthItLately(channelId: string, total: bigint): boolean {
    const last = this.notWorthIt.get(channelId)
    return last != null && last.total === total && Date.now() - last.at < SKIP_RECHECK_MS
  }

  /** The written-off channels by lower-case id, loaded from the store once. */
  async writeOffs(): Promise<Map<string, WeighedTotal>> {
    if (this.writtenOff == null) {
      const map = new Map<string, WeighedTotal>()
      for (const w of await readWriteOffs(this.store))
        map.set(w.channelId.toLowerCase(), { total: w.total, at: w.writtenOffAt })
      this.writtenOff ??= map
    }
    return this.writtenOff
  }

  /**
   * Record a settlement not sent, in one batch with `ops` (the pending record's removal): a write-off the first time
   * its total is written off, else a memo. Returns whether it is news to report (a write-off weighed again is not).
   */
  async recordSkip(
    skipped: SkippedSettlement,
    state: ChannelState,
    ops: StoreOperation[],
    options: AbortOptions,
  ): Promise<boolean> {
    const id = skipped.channelId
    const writtenOff = await this.writeOffs()
    const fresh = skipped.writtenOff && writtenOff.get(id)?.total !== skipped.total
    if (fresh) {
      const record: WriteOff = {
        channelId: id,
        token: skipped.token,
        total: skipped.total,
        settled: skipped.settled,
        amount: skipped.gain,
        estimatedGas: skipped.estimatedGas,
        feePerGas: skipped.feePerGas,
        estimatedCost: skipped.estimatedCost,
        estimatedCostInToken: skipped.estimatedCostInToken,
        reason: 'closing',
        closeDeadline: state.closeDeadline,
        writtenOffAt: Date.now(),
      }
      ops.push({ type: 'put', key: writeOffKey(id), value: record })
    }
    await this.store.write(ops, options)
    if (skipped.writtenOff) {
      writtenOff.set(id, { total: skipped.total, at: Date.now() })
      if (fresh) {
        log.error(
          'writing off %s %s on channel %s: settling would cost %s wei of gas (%s in token units) for a gain of %s; the renter takes it back after the close window',
          skipped.gain,
          isAddressEqual(skipped.token, zeroAddress) ? 'wei' : `units of ${skipped.token}`,
          id,
          skipped.estimatedCost,
          skipped.estimatedCostInToken ?? 'unpriced',
          skipped.gain,
        )
      }
    } else {
      // A threshold pass does not weigh it again until the proof grows or a minute passes.
      if (skipped.reason !== 'command') this.notWorthIt.set(id, { total: skipped.total, at: Date.now() })
      log(
        'not settling %s (%s, %s): gain %s, needs %s; estimated gas %s x %s wei = %s wei%s',
        id,
        skipped.reason,
        skipped.cause,
        skipped.gain,
        skipped.requiredGain ?? 'a token rate (tokenPerNativeWei)',
        skipped.estimatedGas,
        skipped.feePerGas,
        skipped.estimatedCost,
        skipped.estimatedCostInToken != null && skipped.estimatedCostInToken !== skipped.estimatedCost
          ? ` (${skipped.estimatedCostInToken} in token units)`
          : '',
      )
    }
    return !skipped.writtenOff || fresh
  }

  /** A channel settled: its write-off (whose store record the settlement deletes) and memo go. */
  settled(channelId: string): void {
    this.writtenOff?.delete(channelId.toLowerCase())
    this.notWorthIt.delete(channelId.toLowerCase())
  }
}
