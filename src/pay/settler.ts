import { setTimeout as delay } from 'node:timers/promises'
import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { Address, Hex } from 'viem'
import { getBlockNumber, getContractEvents } from 'viem/actions'
import { type SettleReturnType, settleProof } from './actions/settle-channel.js'
import type { ChannelStateCache } from './channel-state-cache.js'
import type { PayWalletClient } from './clients.js'
import { PAYMENT_CHANNEL_ABI } from './contract/artifact.js'
import type { PaymentReceiver } from './payment-receiver.js'
import type { PaymentStore } from './payment-store.js'
import type { PaymentProof } from './types.js'

const log = logger('parkbench:pay:settler')

const PENDING = 'settle/pending/'

/** A settlement recorded before it is sent; resumed at start if the process died before the receipt. */
export interface PendingSettlement {
  channelId: Hex
  total: bigint
  kind: 'voucher' | 'ticks'
  reason: SettleReason
  transactionHash?: Hex
  createdAt: number
}

/**
 * Why a settlement was sent: on command, over the threshold, the renter asked to close, resumed after a restart,
 * or a lease ended badly (the renter vanished or stopped paying) so the provider does not wait to be paid.
 */
export type SettleReason = 'command' | 'threshold' | 'closing' | 'resume' | 'lease-broken'

export interface SettlementResult extends SettleReturnType {
  channelId: Hex
  reason: SettleReason
}

export interface SettlerComponents {
  receiver: PaymentReceiver
  store: PaymentStore
  channels: ChannelStateCache
  /** The provider's wallet: only the channel's provider may settle. */
  wallet: PayWalletClient
}

export interface SettlerInit {
  contract: Address
  /** Settle a channel once this much is accepted but unsettled; default: never by amount, only on close/command. */
  threshold?: bigint
  /**
   * Settle the channel's last voucher instead of a higher tick proof when the ticks are worth less than this more
   * (token base units). A tick proof costs ~96 gas per tick on top of a voucher's ~52,500 (protocols/README.md);
   * default 0: always the highest proof. The ticks stay settleable later.
   */
  minTickGain?: bigint
  /** How often to look at the chain and the policy; default 5 s. */
  intervalMs?: number
  /** The block where CloseRequested scanning starts (the contract's deploy block); default the current block. */
  fromBlock?: bigint
  /** Called after each successful settlement (the daemon logs and meters it). */
  onSettled?: (result: SettlementResult) => void
}

/**
 * Settles the provider's best proofs on-chain by policy: when a channel's unsettled amount reaches a threshold,
 * when the renter requests close (inside the challenge window, which is the channel's expiry), and on command.
 * Every settlement is recorded in the store before it is sent and resumed at the next start, and the contract only
 * pays `total - settled`, so a resend never pays twice.
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
  private readonly onSettled: ((result: SettlementResult) => void) | undefined
  private nextBlock: bigint | undefined
  private controller: AbortController | undefined
  private loop: Promise<void> | undefined
  // Channels whose proof can no longer be paid (window over, channel gone): not retried every pass.
  private readonly hopeless = new Set<string>()
  // One settlement at a time per channel.
  private readonly busy = new Map<string, Promise<SettlementResult | undefined>>()

  constructor(components: SettlerComponents, init: SettlerInit) {
    this.receiver = components.receiver
    this.store = components.store
    this.channels = components.channels
    this.wallet = components.wallet
    this.contract = init.contract
    this.threshold = init.threshold
    this.minTickGain = init.minTickGain ?? 0n
    this.intervalMs = init.intervalMs ?? 5_000
    this.onSettled = init.onSettled
    this.nextBlock = init.fromBlock
  }

  /** Resume pending settlements, then watch the chain until stop(). */
  async start(options: AbortOptions = {}): Promise<void> {
    if (this.controller != null) return
    this.controller = new AbortController()
    try {
      this.nextBlock ??= await getBlockNumber(this.wallet)
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

  /** Settle one channel's best proof now, or every channel's (on command). */
  async settle(channelId?: Hex, options: AbortOptions & { reason?: SettleReason } = {}): Promise<SettlementResult[]> {
    if (channelId != null) {
      const result = await this.settleChannel(channelId, options.reason ?? 'command', options)
      return result == null ? [] : [result]
    }
    const out: SettlementResult[] = []
    for (const id of this.receiver.channelIds()) {
      // One channel's failure (e.g. its window is over) must not keep the others from being paid.
      try {
        const result = await this.settleChannel(id, 'command', options)
        if (result != null) out.push(result)
      } catch (err) {
        options.signal?.throwIfAborted()
        log.error('could not settle %s: %e', id, err)
      }
    }
    return out
  }

  /** One policy pass: settlements left pending, close requests since the last pass, then the threshold. */
  async check(options: AbortOptions = {}): Promise<SettlementResult[]> {
    await this.resume(options)
    const out: SettlementResult[] = []
    const latest = await getBlockNumber(this.wallet)
    const from = this.nextBlock ?? latest
    const closing = new Set<string>()
    if (latest >= from) {
      const logs = await getContractEvents(this.wallet, {
        address: this.contract,
        abi: PAYMENT_CHANNEL_ABI,
        eventName: 'CloseRequested',
        fromBlock: from,
        toBlock: latest,
      })
      for (const entry of logs) closing.add(((entry.args as { channelId: Hex }).channelId ?? '').toLowerCase())
      this.nextBlock = latest + 1n
    }
    for (const id of this.receiver.channelIds()) {
      options.signal?.throwIfAborted()
      if (this.hopeless.has(id)) continue
      try {
        const result = await this.checkChannel(id, closing.has(id), options)
        if (result != null) out.push(result)
      } catch (err) {
        options.signal?.throwIfAborted()
        const code = (err as { code?: string }).code
        // Past the window or gone: no retry can pay it. Anything else (RPC down, gas) is retried next pass.
        if (code === 'CHALLENGE_WINDOW' || code === 'CHANNEL_NOT_OPEN') this.hopeless.add(id)
        log.error('settling %s failed (%s): %e', id, code, err)
      }
    }
    return out
  }

  private async checkChannel(
    id: Hex,
    closeRequested: boolean,
    options: AbortOptions,
  ): Promise<SettlementResult | undefined> {
    if (closeRequested) {
      this.channels.invalidate(id)
      return this.settleChannel(id, 'closing', options)
    }
    const state = await this.channels.get(id, options)
    const best = this.proofFor(id, state?.settled ?? 0n)
    if (state == null || best == null) return undefined
    const unsettled = best.total - state.settled
    if (unsettled <= 0n) return undefined
    const inWindow = state.closeRequestedAt !== 0n
    if (inWindow || (this.threshold != null && unsettled >= this.threshold)) {
      return this.settleChannel(id, inWindow ? 'closing' : 'threshold', options)
    }
    return undefined
  }

  /** The proof to settle: the best one, or the last voucher when the ticks above it are not worth their gas. */
  private proofFor(channelId: Hex, settled: bigint): PaymentProof | undefined {
    const best = this.receiver.bestProof(channelId)
    if (best?.kind !== 'ticks' || this.minTickGain === 0n) return best
    const voucher = this.receiver.bestVoucher(channelId)
    if (voucher == null || voucher.total <= settled || best.total - voucher.total >= this.minTickGain) return best
    return { kind: 'voucher', total: voucher.total, voucher }
  }

  private async resume(options: AbortOptions): Promise<void> {
    for (const p of await this.pending()) {
      log('resuming settlement of %s (total %s, tx %s)', p.channelId, p.total, p.transactionHash ?? 'not sent')
      try {
        await this.settleChannel(p.channelId, 'resume', options)
      } catch (err) {
        log.error('resumed settlement of %s failed, will retry: %e', p.channelId, err)
      }
    }
  }

  private settleChannel(
    channelId: Hex,
    reason: SettleReason,
    options: AbortOptions,
  ): Promise<SettlementResult | undefined> {
    const id = channelId.toLowerCase()
    const running = this.busy.get(id)
    if (running != null) return running.catch(() => undefined)
    const run = this.doSettle(id as Hex, reason, options).finally(() => this.busy.delete(id))
    this.busy.set(id, run)
    return run
  }

  private async doSettle(
    channelId: Hex,
    reason: SettleReason,
    options: AbortOptions,
  ): Promise<SettlementResult | undefined> {
    const key = PENDING + channelId
    const state = await this.channels.get(channelId, { ...options, force: true })
    const proof = this.proofFor(channelId, state?.settled ?? 0n)
    if (proof == null || state == null || proof.total <= state.settled) {
      // Nothing (more) to settle: a resumed transaction went through, or the channel is gone.
      if ((await this.store.get(key)) != null) await this.store.del(key, options)
      return undefined
    }
    const pending: PendingSettlement = {
      channelId,
      total: proof.total,
      kind: proof.kind,
      reason,
      createdAt: Date.now(),
    }
    await this.store.put(key, pending, options)
    try {
      const result = await settleProof(
        this.wallet,
        { contract: this.contract, proof },
        {
          ...options,
          onSent: async (hash) => {
            await this.store.put(key, { ...pending, transactionHash: hash }, options)
          },
        },
      )
      await this.store.del(key, options)
      this.channels.invalidate(channelId)
      const settled: SettlementResult = { ...result, channelId, reason }
      log('settled %s: total %s, paid %s (%s)', channelId, result.total, result.paid, reason)
      this.onSettled?.(settled)
      return settled
    } catch (err) {
      this.channels.invalidate(channelId)
      const code = (err as { code?: string }).code
      if (code === 'AMOUNT_NOT_INCREASING' || code === 'CHANNEL_NOT_OPEN' || code === 'CHALLENGE_WINDOW') {
        // Already settled by an earlier attempt, or too late: retrying cannot help.
        await this.store.del(key, options)
        if (code !== 'AMOUNT_NOT_INCREASING') log.error('could not settle %s: %s', channelId, code)
      }
      throw err
    }
  }
}

/**
 * Create the provider's settler.
 *
 * @example
 * const settler = createSettler({ receiver, store, channels, wallet }, { contract, threshold: 10n ** 15n })
 * await settler.start()
 * await settler.settle() // on command
 */
export function createSettler(components: SettlerComponents, init: SettlerInit): Settler {
  return new Settler(components, init)
}
