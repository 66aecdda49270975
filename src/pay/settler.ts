import { setTimeout as delay } from 'node:timers/promises'
import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { Address, Hex } from 'viem'
import { ChannelSettler } from './channel-settler.js'
import type { ChannelStateCache } from './channel-state-cache.js'
import type { PayWalletClient } from './clients.js'
import { ChallengeWindowError, ChannelNotOpenError } from './errors.js'
import { CloseRequestScanner } from './log-scan.js'
import type { PaymentReceiver } from './payment-receiver.js'
import type { PaymentStore } from './payment-store.js'
import { type PendingSettlement, PendingSettlements } from './pending-settlements.js'
import { SettleMemo, SKIP_RECHECK_MS } from './settle-memo.js'
import { DEFAULT_MIN_GAIN_OVER_GAS, type GasMultiplier, type Ratio, toRatio } from './settle-policy.js'
import {
  type Earnings,
  readHistory,
  readWriteOffs,
  type SettlementRecord,
  summarizeEarnings,
  type WriteOff,
} from './settlement-ledger.js'
import type { SettlementResult, SettleOutcome, SettleReason, SettleReport, SettlerEvent } from './settlement-types.js'
import { SettlementWeigher } from './settlement-weigher.js'

export type { PendingSettlement } from './pending-settlements.js'
export type {
  SettlementResult,
  SettleReason,
  SettleReport,
  SettlerEvent,
  SkippedSettlement,
} from './settlement-types.js'

const log = logger('parkbench:pay:settler')

export interface SettleNowOptions extends AbortOptions {
  /** Default 'command'. */
  reason?: SettleReason
  /** On command only: settle even when the gas costs more than the gain. */
  force?: boolean
}

export interface SettlerComponents {
  receiver: PaymentReceiver
  store: PaymentStore
  channels: ChannelStateCache
  /** The provider's wallet: only the channel's provider may settle. Also reads the chain (logs, gas, fees). */
  wallet: PayWalletClient
}

export interface SettlerInit {
  contract: Address
  /** Settle a channel once this much is accepted but unsettled; default: never by amount, only on close/command. */
  threshold?: bigint
  /**
   * Settle the channel's last voucher instead of a higher tick proof when the ticks are worth less than this more
   * (token base units). A tick proof costs ~96 gas per tick on top of a voucher's ~52,500 (protocols/README.md);
   * default 0: the tick proof unless its extra gas (estimated) costs more than the ticks above the voucher bring.
   * The ticks stay settleable later.
   */
  minTickGain?: bigint
  /** How often to look at the chain and the policy; default 5 s. */
  intervalMs?: number
  /** The block where CloseRequested scanning starts (the contract's deploy block) when the store holds no cursor;
   * default the current block. */
  fromBlock?: bigint
  /** Blocks per eth_getLogs call, halved while the RPC refuses the range; default 1,000. */
  logRangeBlocks?: number
  /** Blocks of CloseRequested logs scanned per pass at most; default 10,000. */
  maxLogBlocksPerPass?: number
  /**
   * A voluntary settlement (threshold, broken lease) is sent only when gain >= minGainOverGas x estimated gas cost:
   * an integer (`2n`) or a ratio (`{ numerator: 3n, denominator: 2n }`). Default 2. Below 1 it acts as 1: a
   * settlement by choice never costs more than it pays.
   */
  minGainOverGas?: GasMultiplier
  /**
   * ERC-20 base units one wei of native coin is worth, to price gas in the channel's token (e.g. USDC, 6 decimals, at
   * 3,000 per ETH: 3,000e6 per 1e18 wei = `{ numerator: 3n, denominator: 1_000_000_000n }`). One rate for every
   * ERC-20 channel. Without it ERC-20 channels are settled only inside a close window or on command.
   */
  tokenPerNativeWei?: Ratio
  /** Told about each settlement confirmed, and each one not sent because it was not worth its gas. */
  onEvent?: (event: SettlerEvent) => void
}

/**
 * Settles the provider's best proofs on-chain by policy: when a channel's unsettled amount reaches a threshold,
 * when the renter requests close (inside the challenge window, which is the channel's expiry), and on command, and
 * each only when it is worth its gas (see settle-policy.ts). Every settlement is recorded in the store before it is
 * sent and resumed at the next start, and the contract only pays `total - settled`, so a resend never pays twice.
 * Confirmed settlements are kept with their receipts' gas: {@link Settler.history}, {@link Settler.earnings}.
 *
 * This class runs the passes (resume, close-request scan, each channel by policy) and the API; one channel's
 * settlement is ChannelSettler's, which weighs it (SettlementWeigher), records it (PendingSettlements) and
 * remembers channels it did not settle (SettleMemo).
 */
export class Settler {
  private readonly receiver: PaymentReceiver
  private readonly store: PaymentStore
  private readonly channels: ChannelStateCache
  private readonly threshold: bigint | undefined
  private readonly intervalMs: number
  private readonly memo: SettleMemo
  private readonly records: PendingSettlements
  private readonly channelSettler: ChannelSettler
  private readonly scanner: CloseRequestScanner
  private controller: AbortController | undefined
  private loop: Promise<void> | undefined

  constructor(components: SettlerComponents, init: SettlerInit) {
    this.receiver = components.receiver
    this.store = components.store
    this.channels = components.channels
    this.threshold = init.threshold
    this.intervalMs = init.intervalMs ?? 5_000
    const minGainOverGas = init.minGainOverGas ?? DEFAULT_MIN_GAIN_OVER_GAS
    toRatio(minGainOverGas)
    const tokenPerNativeWei = init.tokenPerNativeWei
    if (tokenPerNativeWei != null) toRatio(tokenPerNativeWei)
    const { store, channels, wallet } = components
    this.memo = new SettleMemo(store)
    this.records = new PendingSettlements({ store, wallet, channels, memo: this.memo }, { contract: init.contract })
    const weigher = new SettlementWeigher(
      { wallet, receiver: this.receiver },
      { contract: init.contract, minTickGain: init.minTickGain ?? 0n, minGainOverGas, tokenPerNativeWei },
    )
    this.channelSettler = new ChannelSettler(
      { wallet, channels, receiver: this.receiver, pending: this.records, memo: this.memo, weigher },
      { contract: init.contract, onEvent: init.onEvent },
    )
    this.scanner = new CloseRequestScanner(
      { client: wallet, store },
      {
        contract: init.contract,
        ...(init.fromBlock != null ? { fromBlock: init.fromBlock } : {}),
        ...(init.logRangeBlocks != null ? { logRangeBlocks: init.logRangeBlocks } : {}),
        ...(init.maxLogBlocksPerPass != null ? { maxLogBlocksPerPass: init.maxLogBlocksPerPass } : {}),
      },
    )
  }

  /** Resume pending settlements, then watch the chain until stop(). */
  async start(options: AbortOptions = {}): Promise<void> {
    if (this.controller != null) return
    this.controller = new AbortController()
    try {
      await this.scanner.prime(options)
    } catch (err) {
      // The chain may be down at start: the first pass scans from the block it then finds.
      log.error('cannot read the block number at start: %e', err)
    }
    await this.resume(options)
    const signal = this.controller.signal
    this.loop = (async () => {
      while (!signal.aborted) {
        await delay(this.intervalMs, undefined, { signal }).catch(() => {})
        if (signal.aborted) break
        try {
          await this.check({ signal })
        } catch (err) {
          if (!signal.aborted) log.error('settlement pass failed: %e', err)
        }
      }
    })()
  }

  async stop(): Promise<void> {
    this.controller?.abort()
    await this.loop
    await this.channelSettler.idle()
    this.controller = undefined
    this.loop = undefined
  }

  /** Settlements recorded but not confirmed. */
  async pending(): Promise<PendingSettlement[]> {
    return this.records.list()
  }

  /** Every confirmed settlement transaction (and any that reverted), oldest first. */
  async history(): Promise<SettlementRecord[]> {
    return readHistory(this.store)
  }

  /** Amounts written off inside close windows because settling them would cost more gas than they bring. */
  async writeOffs(): Promise<WriteOff[]> {
    return readWriteOffs(this.store)
  }

  /** Per-token totals (gross paid, gas spent, net, written off) with a per-channel breakdown. */
  async earnings(): Promise<Earnings> {
    return summarizeEarnings(await this.history(), await this.writeOffs())
  }

  /**
   * Settle one channel's best proof now, or every channel's (on command), when it is worth its gas (or with
   * `force`). Returns the settlements sent; {@link settleWithReport} also returns the ones skipped.
   */
  async settle(channelId?: Hex, options: SettleNowOptions = {}): Promise<SettlementResult[]> {
    return (await this.settleWithReport(channelId, options)).settled
  }

  /** {@link settle}, reporting every channel it did not settle because the gas cost more than the rule allows. */
  async settleWithReport(channelId?: Hex, options: SettleNowOptions = {}): Promise<SettleReport> {
    const report: SettleReport = { settled: [], skipped: [] }
    const add = (outcome: SettleOutcome): void => {
      if (outcome == null) return
      if ('settled' in outcome) report.settled.push(outcome.settled)
      else report.skipped.push(outcome.skipped)
    }
    const force = options.force === true
    if (channelId != null) {
      const reason = options.reason ?? 'command'
      add(await this.channelSettler.settle(channelId, { reason, decidedFor: reason, force }, options))
      return report
    }
    for (const id of this.receiver.channelIds()) {
      // One channel's failure (e.g. its window is over) must not keep the others from being paid.
      try {
        add(await this.channelSettler.settle(id, { reason: 'command', decidedFor: 'command', force }, options))
      } catch (err) {
        options.signal?.throwIfAborted()
        log.error('could not settle %s: %e', id, err)
      }
    }
    return report
  }

  /**
   * One policy pass: settlements left pending, close requests in the next logs, then every known channel by its
   * state (inside a close window, or over the threshold). A failed log scan does not stop the channel checks.
   */
  async check(options: AbortOptions = {}): Promise<SettlementResult[]> {
    await this.resume(options)
    const closing = await this.scanCloseRequests(options)
    const writtenOff = await this.memo.writeOffs()
    const out: SettlementResult[] = []
    // The stale channels' states in one round of batched reads, not one request per channel below.
    await this.channels.refreshStale(this.receiver.channelIds(), options)
    for (const id of this.receiver.channelIds()) {
      options.signal?.throwIfAborted()
      if (this.memo.isHopeless(id)) continue
      const given = writtenOff.get(id)
      if (given != null && given.total >= this.receiver.channelTotal(id) && Date.now() - given.at < SKIP_RECHECK_MS) {
        continue
      }
      try {
        const outcome = await this.checkChannel(id, closing.has(id), options)
        if (outcome != null && 'settled' in outcome) out.push(outcome.settled)
      } catch (err) {
        options.signal?.throwIfAborted()
        // Past the window or gone: no retry can pay it. Anything else (RPC down, gas) is retried next pass.
        const windowOver = err instanceof ChallengeWindowError
        if (windowOver || err instanceof ChannelNotOpenError) this.memo.markHopeless(id)
        if (given != null && windowOver) log('the close window of written-off %s is over', id)
        else log.error('settling %s failed (%s): %e', id, (err as { code?: string }).code, err)
      }
    }
    return out
  }

  private async scanCloseRequests(options: AbortOptions): Promise<Set<Hex>> {
    try {
      const scan = await this.scanner.scan(options)
      if (scan.behind > 0n) log('close-request scan at block %d, %d blocks behind the head', scan.toBlock, scan.behind)
      return scan.closeRequested
    } catch (err) {
      options.signal?.throwIfAborted()
      // Once per pass; every known channel is still checked by its on-chain state below.
      log.error('close-request log scan failed, checking known channels by their state: %e', err)
      return new Set()
    }
  }

  private async checkChannel(id: Hex, closeRequested: boolean, options: AbortOptions): Promise<SettleOutcome> {
    if (closeRequested) {
      this.channels.invalidate(id)
      return this.channelSettler.settle(id, { reason: 'closing', decidedFor: 'closing', force: false }, options)
    }
    const state = await this.channels.get(id, options)
    const best = this.receiver.bestProof(id)
    if (state == null || best == null) return undefined
    const unsettled = best.total - state.settled
    if (unsettled <= 0n) return undefined
    if (state.closeRequestedAt !== 0n) {
      return this.channelSettler.settle(id, { reason: 'closing', decidedFor: 'closing', force: false }, options)
    }
    if (this.threshold == null || unsettled < this.threshold) return undefined
    if (this.memo.notWorthItLately(id, best.total)) return undefined
    return this.channelSettler.settle(id, { reason: 'threshold', decidedFor: 'threshold', force: false }, options)
  }

  private async resume(options: AbortOptions): Promise<void> {
    for (const p of await this.pending()) {
      log('resuming settlement of %s (total %s, tx %s)', p.channelId, p.total, p.transactionHash ?? 'not sent')
      const decidedFor = p.reason === 'resume' ? 'command' : p.reason
      try {
        await this.channelSettler.settle(
          p.channelId,
          { reason: 'resume', decidedFor, force: p.force === true },
          options,
        )
      } catch (err) {
        log.error('resumed settlement of %s failed, will retry: %e', p.channelId, err)
      }
    }
  }
}

/**
 * Create the provider's settler.
 *
 * @example
 * const settler = createSettler({ receiver, store, channels, wallet }, { contract, threshold: 10n ** 15n })
 * await settler.start()
 * await settler.settle() // on command, each channel whose gain is above its gas
 * const { tokens } = await settler.earnings()
 */
export function createSettler(components: SettlerComponents, init: SettlerInit): Settler {
  return new Settler(components, init)
}
