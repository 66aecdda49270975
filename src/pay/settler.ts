import { setTimeout as delay } from 'node:timers/promises'
import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import {
  type Address,
  type Hex,
  isAddressEqual,
  TransactionNotFoundError,
  type TransactionReceipt,
  TransactionReceiptNotFoundError,
  zeroAddress,
} from 'viem'
import { getTransaction, getTransactionReceipt, waitForTransactionReceipt } from 'viem/actions'
import { type EstimateSettleReturnType, estimateSettle, getSettleFeesPerGas } from './actions/estimate-settle.js'
import { findEvent, toPayError, withSignal } from './actions/internal.js'
import { settleProof } from './actions/settle-channel.js'
import type { ChannelStateCache } from './channel-state-cache.js'
import type { PayWalletClient } from './clients.js'
import { AmountNotIncreasingError, ChainError, ChallengeWindowError, ChannelNotOpenError } from './errors.js'
import { CloseRequestScanner } from './log-scan.js'
import type { PaymentReceiver } from './payment-receiver.js'
import type { PaymentStore, StoreOperation } from './payment-store.js'
import {
  DEFAULT_MIN_GAIN_OVER_GAS,
  decideSettlement,
  type GasMultiplier,
  gasCostInToken,
  type Ratio,
  type SettleBasis,
  toRatio,
} from './settle-policy.js'
import {
  type Earnings,
  historyOperation,
  readHistory,
  readWriteOffs,
  type SettlementRecord,
  summarizeEarnings,
  type WriteOff,
  writeOffKey,
} from './settlement-ledger.js'
import type {
  SettlementResult,
  SettleOutcome,
  SettleReason,
  SettleReport,
  SettleRequest,
  SkippedSettlement,
} from './settlement-types.js'
import type { ChannelState, PaymentProof } from './types.js'

export type { SettlementResult, SettleReason, SettleReport, SkippedSettlement } from './settlement-types.js'

const log = logger('parkbench:pay:settler')

const PENDING = 'settle/pending/'
/** A voluntary settlement found not worth its gas is weighed again when its proof grows, or after this (fees move). */
const SKIP_RECHECK_MS = 60_000
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
  /** Called after each successful settlement (the daemon logs and meters it). */
  onSettled?: (result: SettlementResult) => void
  /** Called for each settlement not sent because it was not worth its gas (written off ones included). */
  onSkipped?: (skipped: SkippedSettlement) => void
}

interface Choice {
  proof: PaymentProof
  estimate: EstimateSettleReturnType
}

/**
 * Settles the provider's best proofs on-chain by policy: when a channel's unsettled amount reaches a threshold,
 * when the renter requests close (inside the challenge window, which is the channel's expiry), and on command, and
 * each only when it is worth its gas (see settle-policy.ts). Every settlement is recorded in the store before it is
 * sent and resumed at the next start, and the contract only pays `total - settled`, so a resend never pays twice.
 * Confirmed settlements are kept with their receipts' gas: {@link Settler.history}, {@link Settler.earnings}.
 */
export class Settler {
  private readonly receiver: PaymentReceiver
  private readonly store: PaymentStore
  private readonly channels: ChannelStateCache
  private readonly wallet: PayWalletClient
  private readonly contract: Address
  private readonly threshold: bigint | undefined
  private readonly minTickGain: bigint
  private readonly intervalMs: number
  private readonly minGainOverGas: GasMultiplier
  private readonly tokenPerNativeWei: Ratio | undefined
  private readonly onSettled: ((result: SettlementResult) => void) | undefined
  private readonly onSkipped: ((skipped: SkippedSettlement) => void) | undefined
  private readonly scanner: CloseRequestScanner
  private controller: AbortController | undefined
  private loop: Promise<void> | undefined
  // Channels whose proof can no longer be paid (window over, channel gone): not retried every pass.
  private readonly hopeless = new Set<string>()
  // Written-off channels (loaded from the store): the total given up and when it was last weighed. Weighed again
  // once a minute while the window lasts (fees may fall) or when the proof grows; recorded and logged once.
  private writtenOff: Map<string, { total: bigint; at: number }> | undefined
  // Voluntary settlements not worth their gas: total and time, so a pass does not re-estimate them every time.
  private readonly notWorthIt = new Map<string, { total: bigint; at: number }>()
  // One settlement at a time per channel.
  private readonly busy = new Map<string, Promise<SettleOutcome>>()

  constructor(components: SettlerComponents, init: SettlerInit) {
    this.receiver = components.receiver
    this.store = components.store
    this.channels = components.channels
    this.wallet = components.wallet
    this.contract = init.contract
    this.threshold = init.threshold
    this.minTickGain = init.minTickGain ?? 0n
    this.intervalMs = init.intervalMs ?? 5_000
    this.minGainOverGas = init.minGainOverGas ?? DEFAULT_MIN_GAIN_OVER_GAS
    toRatio(this.minGainOverGas)
    this.tokenPerNativeWei = init.tokenPerNativeWei
    if (this.tokenPerNativeWei != null) toRatio(this.tokenPerNativeWei)
    this.onSettled = init.onSettled
    this.onSkipped = init.onSkipped
    this.scanner = new CloseRequestScanner(
      { client: this.wallet, store: this.store },
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
    await Promise.allSettled(this.busy.values())
    this.controller = undefined
    this.loop = undefined
  }

  /** Settlements recorded but not confirmed. */
  async pending(): Promise<PendingSettlement[]> {
    return (await this.store.list<PendingSettlement>(PENDING)).map(([, p]) => p)
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
      add(await this.settleChannel(channelId, { reason, decidedFor: reason, force }, options))
      return report
    }
    for (const id of this.receiver.channelIds()) {
      // One channel's failure (e.g. its window is over) must not keep the others from being paid.
      try {
        add(await this.settleChannel(id, { reason: 'command', decidedFor: 'command', force }, options))
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
    const writtenOff = await this.loadWriteOffs()
    const out: SettlementResult[] = []
    for (const id of this.receiver.channelIds()) {
      options.signal?.throwIfAborted()
      if (this.hopeless.has(id)) continue
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
        if (windowOver || err instanceof ChannelNotOpenError) this.hopeless.add(id)
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
      return this.settleChannel(id, { reason: 'closing', decidedFor: 'closing', force: false }, options)
    }
    const state = await this.channels.get(id, options)
    const best = this.receiver.bestProof(id)
    if (state == null || best == null) return undefined
    const unsettled = best.total - state.settled
    if (unsettled <= 0n) return undefined
    if (state.closeRequestedAt !== 0n) {
      return this.settleChannel(id, { reason: 'closing', decidedFor: 'closing', force: false }, options)
    }
    if (this.threshold == null || unsettled < this.threshold) return undefined
    const last = this.notWorthIt.get(id)
    if (last != null && last.total === best.total && Date.now() - last.at < SKIP_RECHECK_MS) return undefined
    return this.settleChannel(id, { reason: 'threshold', decidedFor: 'threshold', force: false }, options)
  }

  private async resume(options: AbortOptions): Promise<void> {
    for (const p of await this.pending()) {
      log('resuming settlement of %s (total %s, tx %s)', p.channelId, p.total, p.transactionHash ?? 'not sent')
      const decidedFor = p.reason === 'resume' ? 'command' : p.reason
      try {
        await this.settleChannel(p.channelId, { reason: 'resume', decidedFor, force: p.force === true }, options)
      } catch (err) {
        log.error('resumed settlement of %s failed, will retry: %e', p.channelId, err)
      }
    }
  }

  private settleChannel(channelId: Hex, request: SettleRequest, options: AbortOptions): Promise<SettleOutcome> {
    const id = channelId.toLowerCase()
    const running = this.busy.get(id)
    if (running != null) return running.catch(() => undefined)
    const run = this.doSettle(id as Hex, request, options).finally(() => this.busy.delete(id))
    this.busy.set(id, run)
    return run
  }

  private async doSettle(channelId: Hex, request: SettleRequest, options: AbortOptions): Promise<SettleOutcome> {
    const key = PENDING + channelId
    const recorded = await this.store.get<PendingSettlement>(key)
    if (recorded?.transactionHash != null) {
      // Sent before a restart (or an abort): its receipt, not a second transaction, settles it.
      const sent = await this.recoverSent(recorded, options)
      if (sent === 'waiting') return undefined
      if (sent != null) return { settled: sent }
    }
    const state = await this.channels.get(channelId, { ...options, force: true })
    const best = this.receiver.bestProof(channelId)
    if (best == null || state == null || best.total <= state.settled) {
      // Nothing (more) to settle: a resumed transaction went through, or the channel is gone.
      if (recorded != null) await this.store.del(key, options)
      return undefined
    }
    const pending: PendingSettlement = {
      channelId,
      total: best.total,
      kind: best.kind,
      reason: request.decidedFor,
      token: state.token,
      ...(request.force ? { force: true } : {}),
      createdAt: Date.now(),
    }
    await this.store.put(key, pending, options)
    let sentHash: Hex | undefined
    let choice: Choice | undefined
    try {
      const fees = await getSettleFeesPerGas(this.wallet, options)
      choice = await this.chooseProof(channelId, state, best, fees, options)
      const { proof, estimate } = choice
      const native = isAddressEqual(state.token, zeroAddress)
      const gain = proof.total - state.settled
      const cost = gasCostInToken(estimate.cost, native, this.tokenPerNativeWei)
      const basis = this.basisFor(request.decidedFor, state)
      const decision = decideSettlement({
        basis,
        gain,
        cost,
        force: request.force,
        minGainOverGas: this.minGainOverGas,
      })
      if (!decision.settle) {
        const skipped: SkippedSettlement = {
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
        await this.skip(skipped, state, options)
        return { skipped }
      }
      if (cost == null) {
        log(
          'settling ERC-20 channel %s (%s) without tokenPerNativeWei: %s wei of gas cannot be priced in tokens',
          channelId,
          basis === 'closing' ? 'close window' : 'on command',
          estimate.cost,
        )
      } else if (gain <= cost) {
        log('settling %s on command with force: gain %s, estimated gas %s', channelId, gain, cost)
      }
      if (proof.total !== pending.total || proof.kind !== pending.kind) {
        await this.store.put(key, { ...pending, total: proof.total, kind: proof.kind }, options)
      }
      const result = await settleProof(
        this.wallet,
        { contract: this.contract, proof },
        {
          ...options,
          // The estimate weighed against the gain is the most this transaction may cost.
          limits: estimate.limits,
          onSent: async (hash) => {
            sentHash = hash
            await this.store.put(key, { ...pending, total: proof.total, kind: proof.kind, transactionHash: hash })
          },
        },
      )
      this.channels.invalidate(channelId)
      const settled: SettlementResult = {
        ...result,
        channelId,
        reason: request.reason,
        kind: proof.kind,
        token: state.token,
        gasCost: result.gasUsed * result.effectiveGasPrice,
      }
      await this.recordSettled(settled, request.decidedFor)
      log(
        'settled %s: total %s, paid %s, gas %s wei (%s)',
        channelId,
        result.total,
        result.paid,
        settled.gasCost,
        request.reason,
      )
      this.onSettled?.(settled)
      return { settled }
    } catch (err) {
      this.channels.invalidate(channelId)
      const alreadySettled = err instanceof AmountNotIncreasingError
      if (alreadySettled || err instanceof ChannelNotOpenError || err instanceof ChallengeWindowError) {
        // Already settled by an earlier attempt, or too late: retrying cannot help.
        await this.store.del(key)
        if (!alreadySettled) log.error('could not settle %s: %s', channelId, (err as Error).name)
      } else if (sentHash != null && (err as Error).name !== 'AbortError' && !options.signal?.aborted) {
        // Mined and reverted: nothing paid, the gas spent all the same, and the next pass decides afresh.
        const sent = choice == null ? pending : { ...pending, total: choice.proof.total, kind: choice.proof.kind }
        await this.recordReverted(sentHash, sent).catch((e) =>
          log.error('could not read the receipt of %s: %e', sentHash, e),
        )
      }
      throw err
    }
  }

  /** The rule a settlement is weighed by; a voluntary one inside a close window is weighed as closing. */
  private basisFor(decidedFor: SettleReason, state: ChannelState): SettleBasis {
    if (decidedFor === 'closing') return 'closing'
    if (decidedFor === 'threshold' || decidedFor === 'lease-broken') {
      return state.closeRequestedAt !== 0n ? 'closing' : 'voluntary'
    }
    return 'command'
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
  ): Promise<Choice> {
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

  private async skip(skipped: SkippedSettlement, state: ChannelState, options: AbortOptions): Promise<void> {
    const id = skipped.channelId
    const ops: StoreOperation[] = [{ type: 'del', key: PENDING + id }]
    const writtenOff = await this.loadWriteOffs()
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
    // A write-off weighed again (fees may have fallen) and still not worth it is not reported again.
    if (!skipped.writtenOff || fresh) this.onSkipped?.(skipped)
  }

  /** Record a confirmed settlement and clear its pending record (and any write-off) in one batch. */
  private async recordSettled(result: SettlementResult, decidedFor: SettleReason): Promise<void> {
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
      { type: 'del', key: PENDING + result.channelId },
      { type: 'del', key: writeOffKey(result.channelId) },
    ])
    this.writtenOff?.delete(result.channelId.toLowerCase())
    this.notWorthIt.delete(result.channelId.toLowerCase())
  }

  private async recordReverted(hash: Hex, pending: PendingSettlement): Promise<void> {
    const receipt = await getTransactionReceipt(this.wallet, { hash })
    if (receipt.status !== 'reverted') return
    await this.writeReverted(receipt, pending)
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
    await this.store.write([historyOperation(record), { type: 'del', key: PENDING + pending.channelId }])
    log.error(
      'settlement of %s reverted (tx %s, %s wei of gas)',
      pending.channelId,
      receipt.transactionHash,
      record.gasCost,
    )
  }

  /**
   * A pending settlement whose transaction was sent: record its receipt if it was mined; 'waiting' while the
   * transaction is still in the mempool; undefined when it was dropped or reverted (decide again).
   */
  private async recoverSent(
    p: PendingSettlement,
    options: AbortOptions,
  ): Promise<SettlementResult | 'waiting' | undefined> {
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
    this.onSettled?.(result)
    return result
  }

  /** A pending record's token; records written before tokens were recorded fall back to the channel's state. */
  private async tokenOf(p: PendingSettlement): Promise<Address> {
    if (p.token != null) return p.token
    const state = await this.channels.get(p.channelId).catch(() => undefined)
    return state?.token ?? zeroAddress
  }

  private async loadWriteOffs(): Promise<Map<string, { total: bigint; at: number }>> {
    if (this.writtenOff == null) {
      const map = new Map<string, { total: bigint; at: number }>()
      for (const w of await readWriteOffs(this.store))
        map.set(w.channelId.toLowerCase(), { total: w.total, at: w.writtenOffAt })
      this.writtenOff ??= map
    }
    return this.writtenOff
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
