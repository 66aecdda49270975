import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { Address, Hex } from 'viem'
import { settleProof } from './actions/settle-channel.js'
import type { ChannelStateCache } from './channel-state-cache.js'
import type { PayWalletClient } from './clients.js'
import { AmountNotIncreasingError, ChallengeWindowError, ChannelNotOpenError } from './errors.js'
import type { PaymentReceiver } from './payment-receiver.js'
import type { PendingSettlement, PendingSettlements } from './pending-settlements.js'
import type { SettleMemo } from './settle-memo.js'
import type { SettlementResult, SettleOutcome, SettleRequest, SettlerEvent } from './settlement-types.js'
import type { SettlementWeigher, Weighing } from './settlement-weigher.js'

const log = logger('parkbench:pay:settler')

export interface ChannelSettlerComponents {
  wallet: PayWalletClient
  channels: ChannelStateCache
  receiver: Pick<PaymentReceiver, 'bestProof'>
  pending: PendingSettlements
  memo: SettleMemo
  weigher: SettlementWeigher
}

export interface ChannelSettlerInit {
  contract: Address
  onEvent: ((event: SettlerEvent) => void) | undefined
}

/** Settles one channel, one settlement at a time per channel: resume, record, weigh, send, record the receipt. */
export class ChannelSettler {
  private readonly wallet: PayWalletClient
  private readonly channels: ChannelStateCache
  private readonly receiver: Pick<PaymentReceiver, 'bestProof'>
  private readonly pending: PendingSettlements
  private readonly memo: SettleMemo
  private readonly weigher: SettlementWeigher
  private readonly contract: Address
  private readonly onEvent: ((event: SettlerEvent) => void) | undefined
  // One settlement at a time per channel.
  private readonly busy = new Map<string, Promise<SettleOutcome>>()

  constructor(components: ChannelSettlerComponents, init: ChannelSettlerInit) {
    this.wallet = components.wallet
    this.channels = components.channels
    this.receiver = components.receiver
    this.pending = components.pending
    this.memo = components.memo
    this.weigher = components.weigher
    this.contract = init.contract
    this.onEvent = init.onEvent
  }

  /** Settle the channel's best proof if it is worth its gas; a call while one runs gets that one's outcome. */
  settle(channelId: Hex, request: SettleRequest, options: AbortOptions): Promise<SettleOutcome> {
    const id = channelId.toLowerCase()
    const running = this.busy.get(id)
    if (running != null) return running.catch(() => undefined)
    const run = this.run(id as Hex, request, options).finally(() => this.busy.delete(id))
    this.busy.set(id, run)
    return run
  }

  /** Resolves when every settlement running now has ended. */
  async idle(): Promise<void> {
    await Promise.allSettled(this.busy.values())
  }

  private async run(channelId: Hex, request: SettleRequest, options: AbortOptions): Promise<SettleOutcome> {
    const recorded = await this.pending.get(channelId)
    if (recorded?.transactionHash != null) {
      // Sent before a restart (or an abort): its receipt, not a second transaction, settles it.
      const sent = await this.pending.recoverSent(recorded, options)
      if (sent === 'waiting') return undefined
      if (sent != null) {
        this.onEvent?.({ type: 'settle:settled', result: sent })
        return { settled: sent }
      }
    }
    const state = await this.channels.get(channelId, { ...options, force: true })
    const best = this.receiver.bestProof(channelId)
    if (best == null || state == null || best.total <= state.settled) {
      // Nothing (more) to settle: a resumed transaction went through, or the channel is gone.
      if (recorded != null) await this.pending.delete(channelId, options)
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
    await this.pending.put(pending, options)
    let sentHash: Hex | undefined
    let weighing: Weighing | undefined
    try {
      weighing = await this.weigher.weigh(channelId, state, best, request, options)
      const { proof, estimate, gain, cost, basis, skipped } = weighing
      if (skipped != null) {
        const report = await this.memo.recordSkip(skipped, state, [this.pending.deleteOperation(channelId)], options)
        if (report) this.onEvent?.({ type: 'settle:skipped', skipped })
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
        await this.pending.put({ ...pending, total: proof.total, kind: proof.kind }, options)
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
            await this.pending.put({ ...pending, total: proof.total, kind: proof.kind, transactionHash: hash })
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
      await this.pending.recordSettled(settled, request.decidedFor)
      log(
        'settled %s: total %s, paid %s, gas %s wei (%s)',
        channelId,
        result.total,
        result.paid,
        settled.gasCost,
        request.reason,
      )
      this.onEvent?.({ type: 'settle:settled', result: settled })
      return { settled }
    } catch (err) {
      this.channels.invalidate(channelId)
      const alreadySettled = err instanceof AmountNotIncreasingError
      if (alreadySettled || err instanceof ChannelNotOpenError || err instanceof ChallengeWindowError) {
        // Already settled by an earlier attempt, or too late: retrying cannot help.
        await this.pending.delete(channelId)
        if (!alreadySettled) log.error('could not settle %s: %s', channelId, (err as Error).name)
      } else if (sentHash != null && (err as Error).name !== 'AbortError' && !options.signal?.aborted) {
        // Mined and reverted: nothing paid, the gas spent all the same, and the next pass decides afresh.
        const sent = weighing == null ? pending : { ...pending, total: weighing.proof.total, kind: weighing.proof.kind }
        await this.pending
          .recordReverted(sentHash, sent)
          .catch((e) => log.error('could not read the receipt of %s: %e', sentHash, e))
      }
      throw err
    }
  }
}
