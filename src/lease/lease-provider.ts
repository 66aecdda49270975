import type { Connection, PrivateKey, Stream } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { type Address, bytesToHex, type Hex } from 'viem'
import type { AdmissionPolicy } from '../compute/admission.js'
import { Status as ComputeStatus } from '../compute/pb/compute.js'
import { RUN_ON_RELAYED_CONNECTIONS } from '../net/constants.js'
import { MalformedMessageError } from '../net/errors.js'
import { createMessageStream } from '../net/message-stream.js'
import type { RpcNode } from '../net/rpc.js'
import type { ChannelStateCache } from '../pay/channel-state-cache.js'
import type { PaymentReceiver } from '../pay/payment-receiver.js'
import { LEASE_DEFAULTS, LEASE_LIMITS, LEASE_PROTOCOL } from './constants.js'
import {
  checkAccept,
  NegotiationSlots,
  type QuoteContext,
  quoteLease,
  readAccept,
  refuseRequest,
  refuseStart,
} from './lease-negotiation.js'
import { type LeaseInfo, MeteredLease } from './metered-lease.js'
import { isWholeAmountPerTick } from './metering.js'
import { EndReason, LeaseReply, LeaseRequest, LeaseStatus } from './pb/lease.js'
import { signQuote } from './quote.js'

export type { LeaseInfo } from './metered-lease.js'

const log = logger('parkbench:lease:provider')

export interface LeaseProviderComponents {
  node: Pick<RpcNode, 'handle' | 'unhandle'>
  privateKey: PrivateKey
  receiver: Pick<PaymentReceiver, 'acceptCommitment' | 'acceptTick' | 'acceptVoucher' | 'remaining' | 'endLease'>
  channels: Pick<ChannelStateCache, 'get'>
  /** Does the provider hold this model (lowercase hex sha256)? */
  models: { has(sha256: string): Promise<boolean> }
}

export interface LeaseProviderInit {
  /** The EVM address channels must pay. */
  payoutAddress: Address
  /** This node's id (`providerNodeId` of its peer id): channels must be bound to it. */
  providerNode: Hex
  /** The ERC-20 channels must be in; undefined for the native coin. */
  token?: Address | undefined
  pricePerSecond: bigint
  /** Threads this provider sells; leases reserve them, and a full provider answers BUSY. */
  threads: number
  /** Longest duration one commitment may cover; renewals extend a lease by up to this much again. */
  maxLeaseSeconds: number
  tickIntervalMs?: number
  graceMs?: number
  /** The renter must send a voucher at least every this many ticks. Default 60. */
  voucherEveryTicks?: number
  /** How long a quote holds capacity waiting for ACCEPT. Default 10 s. */
  quoteTtlMs?: number
  /** Ended leases kept for `parkbench leases`. Default 200. */
  historySize?: number
  /** Told about every lease that ends. */
  onLeaseEnded?(lease: LeaseInfo): void
  /** Told about leases that start and requests refused (for metrics; keep it cheap, it runs per negotiation). */
  onEvent?(event: LeaseProviderEvent): void
}

/** What the lease provider reports besides ended leases: a lease started, a request refused with its status. */
export type LeaseProviderEvent =
  | { type: 'lease:started'; lease: LeaseInfo }
  | { type: 'lease:refused'; status: LeaseStatus }

/** Why the provider is not taking leases now: the end reason running leases were given, and what renters are told. */
export interface LeasePause {
  reason: EndReason
  detail: string
}

/**
 * The provider side of leases: quotes on `/parkbench/lease/1.0.0`, admits leases against its thread capacity and
 * the channel's unspent deposit, meters ticks (serving only while paid up, ending the lease PAYMENT_LATE when a
 * tick is later than the grace), and is the compute admission policy: jobs run only inside an active paid lease.
 * Negotiation is in lease-negotiation.ts, a running lease's metering in metered-lease.ts.
 */
export class LeaseProvider {
  private readonly components: LeaseProviderComponents
  private readonly init: Required<Omit<LeaseProviderInit, 'token' | 'onLeaseEnded' | 'onEvent'>> &
    Pick<LeaseProviderInit, 'token' | 'onLeaseEnded' | 'onEvent'>
  private readonly active = new Map<Hex, MeteredLease>()
  private readonly history: LeaseInfo[] = []
  private reservedThreads = 0
  private readonly busyChannels = new Set<Hex>()
  private readonly negotiations = new NegotiationSlots()
  private readonly quoteContext: QuoteContext
  private started = false
  private pausedBy: LeasePause | undefined

  constructor(components: LeaseProviderComponents, init: LeaseProviderInit) {
    this.components = components
    this.init = {
      tickIntervalMs: LEASE_DEFAULTS.tickIntervalMs,
      graceMs: LEASE_DEFAULTS.graceMs,
      voucherEveryTicks: LEASE_DEFAULTS.voucherEveryTicks,
      historySize: 200,
      quoteTtlMs: LEASE_LIMITS.quoteTtlMs,
      ...init,
    }
    if (!isWholeAmountPerTick(this.init.pricePerSecond, this.init.tickIntervalMs)) {
      throw new RangeError('pricePerSecond x tickIntervalMs must be a whole number of base units per 1000 ms')
    }
    this.quoteContext = {
      models: components.models,
      channels: components.channels,
      receiver: components.receiver,
      channelInLease: (channelId) => this.busyChannels.has(channelId),
      freeThreads: () => this.freeThreads(),
    }
  }

  async start(): Promise<void> {
    if (this.started) return
    await this.components.node.handle(LEASE_PROTOCOL, (stream, connection) => this.handle(stream, connection), {
      maxInboundStreams: LEASE_LIMITS.maxInboundStreams,
      ...RUN_ON_RELAYED_CONNECTIONS,
    })
    this.started = true
  }

  /** End every lease with PROVIDER_SHUTDOWN (the renters are told) and stop taking new ones. */
  async stop(): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.components.node.unhandle(LEASE_PROTOCOL)
    await Promise.all([...this.active.values()].map(async (lease) => lease.end(EndReason.PROVIDER_SHUTDOWN)))
  }

  /**
   * Stop selling for now: new requests are refused BUSY with `detail`, and every running lease ends with `reason`
   * (the renter is told in ENDED; it has paid up to the tick it prepaid, nothing after). Resolves once they ended.
   */
  async pause(reason: EndReason, detail: string): Promise<void> {
    this.pausedBy = { reason, detail }
    await Promise.all([...this.active.values()].map(async (lease) => lease.end(reason, detail)))
  }

  /** Take leases again after {@link pause}. */
  resume(): void {
    this.pausedBy = undefined
  }

  /** Why the provider is paused, if it is. */
  get paused(): LeasePause | undefined {
    return this.pausedBy
  }

  /** Quote new leases at this price; running leases keep the price they agreed. */
  setPrice(pricePerSecond: bigint): void {
    if (pricePerSecond <= 0n || !isWholeAmountPerTick(pricePerSecond, this.init.tickIntervalMs)) {
      throw new RangeError('pricePerSecond x tickIntervalMs must be a positive whole number of base units per 1000 ms')
    }
    this.init.pricePerSecond = pricePerSecond
  }

  /** The price new leases are quoted at. */
  get pricePerSecond(): bigint {
    return this.init.pricePerSecond
  }

  /** Active and recently ended leases, newest first. */
  leases(): LeaseInfo[] {
    const live = [...this.active.values()].map(
      (l) => ({ ...l.info, state: l.paidUp() ? 'active' : 'suspended' }) as LeaseInfo,
    )
    return [...live.reverse(), ...[...this.history].reverse()]
  }

  /** Threads free for new leases. */
  freeThreads(): number {
    return this.init.threads - this.reservedThreads
  }

  /**
   * The compute admission policy: a job (or model transfer) runs only for a peer with an active lease that is paid
   * up, and an inference only on a model the lease named (or any held model if it named none).
   */
  readonly admit: AdmissionPolicy = async (request) => {
    const peer = request.peer.toString()
    let unpaid = false
    for (const lease of this.active.values()) {
      if (lease.info.renter !== peer) continue
      if (!lease.paidUp()) {
        unpaid = true
        continue
      }
      if (request.kind === 'infer' && lease.models.size > 0 && !lease.models.has(request.modelSha256)) continue
      return {
        allowed: true,
        onJobDone: (outcome) => {
          lease.info.jobs++
          lease.info.jobRunMs += outcome.runMs
        },
      }
    }
    return {
      allowed: false,
      status: ComputeStatus.NOT_AUTHORIZED,
      reason: unpaid ? 'The lease is not paid up' : 'No active lease for this peer (and model)',
    }
  }

  /** One lease stream: request, quote, ACCEPT, then the running lease until it ends. */
  private async handle(stream: Stream, connection: Connection): Promise<void> {
    // Past a frame over the limit or one that does not decode, reading stops but the renter can still be told why.
    const messages = createMessageStream(stream, {
      maxDataLength: LEASE_LIMITS.maxMessageBytes,
      maxBufferSize: LEASE_LIMITS.maxBufferedBytes,
      discardAfterInvalidFrame: true,
    })
    const renter = connection.remotePeer
    const peer = renter.toString()
    let negotiating = false
    let reservation: { threads: number; channelId: Hex } | undefined
    try {
      const requestSignal = AbortSignal.timeout(LEASE_LIMITS.requestTimeoutMs)
      // A peer gets a few negotiations at a time: each may read the chain, and none holds any capacity.
      if (!this.negotiations.take(peer)) {
        const refusal = { ok: false, status: LeaseStatus.BUSY, reason: 'Too many lease requests in progress' } as const
        this.init.onEvent?.({ type: 'lease:refused', status: refusal.status })
        await refuseRequest(messages, refusal, requestSignal)
        return
      }
      negotiating = true
      const request = await messages.read(LeaseRequest, { signal: requestSignal }).catch(malformedAs(undefined))
      const outcome =
        request === undefined
          ? ({
              ok: false,
              status: LeaseStatus.BAD_REQUEST,
              reason: 'The request is over 4 KiB or does not decode',
            } as const)
          : !this.started
            ? ({ ok: false, status: LeaseStatus.BUSY, reason: 'Shutting down' } as const)
            : this.pausedBy !== undefined
              ? ({ ok: false, status: LeaseStatus.BUSY, reason: this.pausedBy.detail } as const)
              : await quoteLease(request, renter, this.init, this.quoteContext)
      if (!outcome.ok) {
        this.init.onEvent?.({ type: 'lease:refused', status: outcome.status })
        await refuseRequest(messages, outcome, requestSignal)
        return
      }
      const { quote, models } = outcome
      const signed = await signQuote(this.components.privateKey, quote)
      await messages.write(
        { status: LeaseStatus.OK, reason: '', quote: signed.quote, signature: signed.signature },
        LeaseReply,
        { signal: requestSignal },
      )

      const answer = await readAccept(messages, quote).catch(malformedAs(null))
      const accepted =
        answer === null
          ? ({
              ok: false,
              status: LeaseStatus.BAD_REQUEST,
              reason: 'The answer is over 4 KiB or does not decode',
            } as const)
          : this.pausedBy !== undefined
            ? ({ ok: false, status: LeaseStatus.BUSY, reason: this.pausedBy.detail } as const)
            : checkAccept(answer, quote, this.quoteContext, this.init)
      if (!accepted.ok) {
        this.init.onEvent?.({ type: 'lease:refused', status: accepted.status })
        await refuseStart(messages, accepted)
        return
      }
      // Capacity and the channel are taken only now, for a commitment that then passes every payment check: the
      // renter's signature proves it controls the channel.
      const leaseId = bytesToHex(quote.leaseId)
      const channelId = bytesToHex(quote.channelId)
      reservation = { threads: quote.threads, channelId }
      this.reservedThreads += quote.threads
      this.busyChannels.add(channelId)
      try {
        await this.components.receiver.acceptCommitment(accepted.commitment, {
          channelId,
          leaseId,
          amountPerTick: quote.amountPerTick,
        })
      } catch (err) {
        await refuseStart(messages, { ok: false, status: LeaseStatus.PAYMENT_INVALID, reason: (err as Error).message })
        return
      }
      // Paused while the commitment was being stored: the lease never starts (nothing was paid yet).
      if (this.pausedBy !== undefined) {
        this.components.receiver.endLease(leaseId)
        this.init.onEvent?.({ type: 'lease:refused', status: LeaseStatus.BUSY })
        await refuseStart(messages, { ok: false, status: LeaseStatus.BUSY, reason: this.pausedBy.detail })
        return
      }
      const lease = new MeteredLease({
        info: {
          leaseId,
          renter: peer,
          channelId,
          models: [...models],
          threads: quote.threads,
          pricePerSecond: quote.pricePerSecond,
          startedAt: Date.now(),
          ticksPaid: 0,
          amountPaid: 0n,
          jobs: 0,
          jobRunMs: 0,
          state: 'active',
        },
        renter,
        models,
        commitmentMaxTicks: accepted.commitment.commitment.maxTicks,
        amountPerTick: quote.amountPerTick,
        messages,
        terms: this.init,
        receiver: this.components.receiver,
        onEnd: (ended) => this.release(ended),
        ...(this.init.onLeaseEnded === undefined ? {} : { onEnded: this.init.onLeaseEnded }),
      })
      reservation = undefined // the lease owns the threads and the channel now
      this.negotiations.release(peer)
      negotiating = false
      this.active.set(leaseId, lease)
      this.init.onEvent?.({ type: 'lease:started', lease: lease.info })
      await lease.run()
    } catch (err) {
      log('lease stream from %p failed - %s', renter, (err as Error).message)
      messages.abort(err as Error)
    } finally {
      if (negotiating) this.negotiations.release(peer)
      if (reservation != null) this.unreserve(reservation.threads, reservation.channelId)
    }
  }

  private unreserve(threads: number, channelId: Hex): void {
    this.reservedThreads -= threads
    this.busyChannels.delete(channelId)
  }

  /** A lease has ended: free what it held and keep it for `parkbench leases`. */
  private release(lease: MeteredLease): void {
    this.active.delete(lease.info.leaseId)
    this.unreserve(lease.info.threads, lease.info.channelId)
    this.history.push(lease.info)
    if (this.history.length > this.init.historySize) this.history.shift()
  }
}

/** A read's catch handler: a frame over the limit or one that does not decode becomes `value`; the rest rethrow. */
function malformedAs<T>(value: T): (err: Error) => T {
  return (err) => {
    if (err instanceof MalformedMessageError) return value
    throw err
  }
}

/** Create the provider side of leases; pass `provider.admit` as the compute admission policy. */
export function createLeaseProvider(components: LeaseProviderComponents, init: LeaseProviderInit): LeaseProvider {
  return new LeaseProvider(components, init)
}
