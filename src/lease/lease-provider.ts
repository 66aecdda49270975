import { randomBytes } from 'node:crypto'
import { setMaxListeners } from 'node:events'
import type { Connection, PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { pbStream } from '@libp2p/utils'
import { type Address, bytesToHex, type Hex, isAddressEqual, zeroAddress } from 'viem'
import type { AdmissionPolicy } from '../compute/admission.js'
import { Status as ComputeStatus } from '../compute/pb/compute.js'
import { readMessage } from '../net/message-stream.js'
import type { RpcNode } from '../net/rpc.js'
import type { ChannelStateCache } from '../pay/channel-state-cache.js'
import { amountToBytes, decodeSignedTickCommitment, decodeTick, decodeVoucher } from '../pay/messages.js'
import type { PaymentReceiver } from '../pay/payment-receiver.js'
import { LEASE_DEFAULTS, LEASE_LIMITS, LEASE_PROTOCOL, VOUCHER_SLACK_TICKS } from './constants.js'
import { EndReason, LeaseReply, LeaseRequest, LeaseStatus, ProviderMessage, RenterMessage } from './pb/lease.js'
import { type Quote, signQuote } from './quote.js'

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
}

/** A lease as `parkbench leases` shows it. */
export interface LeaseInfo {
  leaseId: Hex
  renter: string
  channelId: Hex
  models: string[]
  threads: number
  pricePerSecond: bigint
  startedAt: number
  endedAt?: number
  endReason?: keyof typeof EndReason
  ticksPaid: number
  /** Amount accepted in this lease (ticks x amount per tick). */
  amountPaid: bigint
  jobs: number
  jobRunMs: number
  state: 'active' | 'suspended' | 'ended'
}

interface ActiveLease {
  info: LeaseInfo
  renter: PeerId
  models: Set<string>
  /** Ticks in the current commitment, and its maximum. */
  commitmentTicks: number
  commitmentMaxTicks: number
  amountPerTick: bigint
  /** ms since start that are paid for. */
  paidUntilMs: number
  /** Ticks accepted since the last voucher that covered the lease's total (less one tick in flight). */
  ticksSinceVoucher: number
  /** When STARTED was sent, then (from the first tick on) when the first tick arrived. */
  startedAtMono: number
  timer?: NodeJS.Timeout
  stream: Stream
  pb: ReturnType<typeof pbStream>
  /** Serialises writes to the stream. */
  writing: Promise<void>
  ended: boolean
}

const now = (): number => performance.now()

const CHANNEL_IN_LEASE = 'The channel already has an active lease (leases on a channel are sequential)'

/** A ProviderMessage with every field not given at its empty default. */
function providerMessage(fields: Partial<ProviderMessage>): ProviderMessage {
  return {
    kind: ProviderMessage.Kind.KIND_UNSPECIFIED,
    status: LeaseStatus.OK,
    reason: '',
    ticksPaid: 0,
    paidUntilMs: 0n,
    total: new Uint8Array(),
    endReason: EndReason.END_REASON_UNSPECIFIED,
    ...fields,
  }
}

/**
 * The provider side of leases: quotes on `/parkbench/lease/1.0.0`, admits leases against its thread capacity and
 * the channel's unspent deposit, meters ticks (serving only while paid up, ending the lease PAYMENT_LATE when a
 * tick is later than the grace), and is the compute admission policy: jobs run only inside an active paid lease.
 */
export class LeaseProvider {
  private readonly components: LeaseProviderComponents
  private readonly init: Required<Omit<LeaseProviderInit, 'token' | 'onLeaseEnded'>> &
    Pick<LeaseProviderInit, 'token' | 'onLeaseEnded'>
  private readonly active = new Map<Hex, ActiveLease>()
  private readonly history: LeaseInfo[] = []
  private reservedThreads = 0
  private readonly busyChannels = new Set<Hex>()
  /** Leases being negotiated, per peer and in all. */
  private readonly negotiating = new Map<string, number>()
  private negotiations = 0
  private started = false

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
    if ((this.init.pricePerSecond * BigInt(this.init.tickIntervalMs)) % 1000n !== 0n) {
      throw new RangeError('pricePerSecond x tickIntervalMs must be a whole number of base units per 1000 ms')
    }
  }

  async start(): Promise<void> {
    if (this.started) return
    await this.components.node.handle(LEASE_PROTOCOL, (stream, connection) => this.handle(stream, connection), {
      maxInboundStreams: LEASE_LIMITS.maxInboundStreams,
    })
    this.started = true
  }

  /** End every lease with PROVIDER_SHUTDOWN (the renters are told) and stop taking new ones. */
  async stop(): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.components.node.unhandle(LEASE_PROTOCOL)
    await Promise.all([...this.active.values()].map(async (lease) => this.end(lease, EndReason.PROVIDER_SHUTDOWN)))
  }

  /** Active and recently ended leases, newest first. */
  leases(): LeaseInfo[] {
    const live = [...this.active.values()].map(
      (l) => ({ ...l.info, state: this.paidUp(l) ? 'active' : 'suspended' }) as LeaseInfo,
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
      if (!this.paidUp(lease)) {
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

  private paidUp(lease: ActiveLease): boolean {
    return !lease.ended && now() - lease.startedAtMono < lease.paidUntilMs
  }

  private async handle(stream: Stream, connection: Connection): Promise<void> {
    const pb = pbStream(stream, { maxDataLength: LEASE_LIMITS.maxMessageBytes })
    const renter = connection.remotePeer
    const peer = renter.toString()
    let negotiating = false
    let reservation: { threads: number; channelId: Hex } | undefined
    try {
      const requestSignal = AbortSignal.timeout(LEASE_LIMITS.requestTimeoutMs)
      // A peer gets a few negotiations at a time: each may read the chain, and none holds any capacity.
      if (
        (this.negotiating.get(peer) ?? 0) >= LEASE_LIMITS.maxNegotiationsPerPeer ||
        this.negotiations >= LEASE_LIMITS.maxNegotiations
      ) {
        await this.refuseRequest(pb, stream, LeaseStatus.BUSY, 'Too many lease requests in progress', requestSignal)
        return
      }
      negotiating = true
      this.negotiating.set(peer, (this.negotiating.get(peer) ?? 0) + 1)
      this.negotiations++
      const request = await readMessage<LeaseRequest>(pb, LeaseRequest, { signal: requestSignal })
      const outcome = await this.quote(request, renter)
      if (!outcome.ok) {
        await this.refuseRequest(pb, stream, outcome.status, outcome.reason, requestSignal)
        return
      }
      const { quote, models } = outcome
      const channelId = bytesToHex(quote.channelId)
      const signed = await signQuote(this.components.privateKey, quote)
      await pb.write(
        { status: LeaseStatus.OK, reason: '', quote: signed.quote, signature: signed.signature },
        LeaseReply,
        { signal: requestSignal },
      )

      const acceptSignal = AbortSignal.timeout(Math.max(1, Number(quote.expiresAtMs) - Date.now()))
      const accept = await readMessage<RenterMessage>(pb, RenterMessage, { signal: acceptSignal }).catch(
        (err: Error) => {
          if (acceptSignal.aborted) return undefined
          throw err
        },
      )
      if (accept === undefined || Date.now() > Number(quote.expiresAtMs)) {
        await this.refuseStart(pb, stream, LeaseStatus.QUOTE_EXPIRED, 'The quote expired before it was accepted')
        return
      }
      if (accept.kind !== RenterMessage.Kind.ACCEPT) {
        await this.refuseStart(pb, stream, LeaseStatus.BAD_REQUEST, `Expected ACCEPT, got ${String(accept.kind)}`)
        return
      }
      const leaseId = bytesToHex(quote.leaseId)
      const maxTicks = Math.floor((quote.maxSeconds * 1000) / quote.tickIntervalMs)
      let commitment: ReturnType<typeof decodeSignedTickCommitment>
      try {
        commitment = decodeSignedTickCommitment(accept.commitment)
        if (commitment.commitment.maxTicks > maxTicks) {
          throw new RangeError(`Commitment covers more than ${maxTicks} ticks`)
        }
      } catch (err) {
        await this.refuseStart(pb, stream, LeaseStatus.PAYMENT_INVALID, (err as Error).message)
        return
      }
      // Capacity and the channel are taken only now, for a commitment that then passes every payment check: the
      // renter's signature proves it controls the channel. Checked again here (a quote reserved nothing).
      if (this.busyChannels.has(channelId)) {
        await this.refuseStart(pb, stream, LeaseStatus.CHANNEL_INVALID, CHANNEL_IN_LEASE)
        return
      }
      if (quote.threads > this.freeThreads()) {
        const reason = `${this.freeThreads()} of ${this.init.threads} threads free`
        await this.refuseStart(pb, stream, LeaseStatus.BUSY, reason)
        return
      }
      reservation = { threads: quote.threads, channelId }
      this.reservedThreads += quote.threads
      this.busyChannels.add(channelId)
      try {
        await this.components.receiver.acceptCommitment(commitment, {
          channelId,
          leaseId,
          amountPerTick: quote.amountPerTick,
        })
      } catch (err) {
        await this.refuseStart(pb, stream, LeaseStatus.PAYMENT_INVALID, (err as Error).message)
        return
      }
      const lease: ActiveLease = {
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
        commitmentTicks: 0,
        commitmentMaxTicks: commitment.commitment.maxTicks,
        amountPerTick: quote.amountPerTick,
        paidUntilMs: 0,
        ticksSinceVoucher: 0,
        startedAtMono: now(),
        stream,
        pb,
        writing: Promise.resolve(),
        ended: false,
      }
      reservation = undefined // the lease owns the threads and the channel now
      this.endNegotiation(peer)
      negotiating = false
      this.active.set(leaseId, lease)
      this.armLateTimer(lease)
      await this.send(lease, { kind: ProviderMessage.Kind.STARTED, status: LeaseStatus.OK })
      log('lease %s started for %p', leaseId, renter)
      await this.serve(lease)
    } catch (err) {
      log('lease stream from %p failed - %s', renter, (err as Error).message)
      stream.abort(err as Error)
    } finally {
      if (negotiating) this.endNegotiation(peer)
      if (reservation != null) this.release(reservation.threads, reservation.channelId)
    }
  }

  private endNegotiation(peer: string): void {
    this.negotiations--
    const left = (this.negotiating.get(peer) ?? 1) - 1
    if (left <= 0) this.negotiating.delete(peer)
    else this.negotiating.set(peer, left)
  }

  private async refuseRequest(
    pb: ReturnType<typeof pbStream>,
    stream: Stream,
    status: LeaseStatus,
    reason: string,
    signal: AbortSignal,
  ): Promise<void> {
    await pb.write({ status, reason, quote: new Uint8Array(), signature: new Uint8Array() }, LeaseReply, { signal })
    await stream.close({ signal })
  }

  private async refuseStart(
    pb: ReturnType<typeof pbStream>,
    stream: Stream,
    status: LeaseStatus,
    reason: string,
  ): Promise<void> {
    const signal = AbortSignal.timeout(LEASE_LIMITS.requestTimeoutMs)
    await pb.write(providerMessage({ kind: ProviderMessage.Kind.STARTED, status, reason }), ProviderMessage, { signal })
    await stream.close({ signal })
  }

  /** Check a request and, if it can be served now, make a quote (which reserves nothing). */
  private async quote(
    request: LeaseRequest,
    renter: PeerId,
  ): Promise<{ ok: true; quote: Quote; models: Set<string> } | { ok: false; status: LeaseStatus; reason: string }> {
    const { init } = this
    if (!this.started) return { ok: false, status: LeaseStatus.BUSY, reason: 'Shutting down' }
    if (request.models.length > LEASE_LIMITS.maxModels || request.models.some((m) => m.length !== 32)) {
      return {
        ok: false,
        status: LeaseStatus.BAD_REQUEST,
        reason: `At most ${LEASE_LIMITS.maxModels} 32-byte model hashes`,
      }
    }
    if (request.channelId.length !== 32)
      return { ok: false, status: LeaseStatus.BAD_REQUEST, reason: 'channel_id must be 32 bytes' }
    if (request.seconds < 1) return { ok: false, status: LeaseStatus.BAD_REQUEST, reason: 'seconds must be at least 1' }
    const threads = Math.max(1, request.threads)
    if (request.maxPricePerSecond < init.pricePerSecond) {
      return { ok: false, status: LeaseStatus.PRICE_TOO_LOW, reason: `Price is ${init.pricePerSecond} per second` }
    }
    const models = new Set(request.models.map((m) => Buffer.from(m).toString('hex')))
    for (const model of models) {
      if (!(await this.components.models.has(model)))
        return { ok: false, status: LeaseStatus.MODEL_NOT_FOUND, reason: `No model ${model}` }
    }
    const channelId = bytesToHex(request.channelId)
    // Through the cache (a stranger's flood of requests costs one chain read per channel per TTL); forced fresh
    // only when the cached deposit looks short, as after a top-up.
    const read = (force: boolean) =>
      this.components.channels.get(channelId, { force, signal: AbortSignal.timeout(10_000) })
    let state = await read(false)
    if (state == null || state.deposit === 0n)
      return { ok: false, status: LeaseStatus.CHANNEL_INVALID, reason: 'Unknown channel' }
    if (!isAddressEqual(state.provider, init.payoutAddress)) {
      return { ok: false, status: LeaseStatus.CHANNEL_INVALID, reason: 'The channel pays another provider' }
    }
    if (state.providerNode.toLowerCase() !== init.providerNode.toLowerCase()) {
      return {
        ok: false,
        status: LeaseStatus.CHANNEL_INVALID,
        reason: 'The channel is bound to another node of this payout address (open one for this peer id)',
      }
    }
    if (!isAddressEqual(state.token, init.token ?? zeroAddress)) {
      return { ok: false, status: LeaseStatus.CHANNEL_INVALID, reason: 'The channel is in another token' }
    }
    if (state.closeRequestedAt !== 0n)
      return { ok: false, status: LeaseStatus.CHANNEL_INVALID, reason: 'The channel is closing' }
    if (this.busyChannels.has(channelId)) {
      return { ok: false, status: LeaseStatus.CHANNEL_INVALID, reason: CHANNEL_IN_LEASE }
    }
    const seconds = Math.min(request.seconds, init.maxLeaseSeconds)
    const ticks = Math.floor((seconds * 1000) / init.tickIntervalMs)
    const amountPerTick = (init.pricePerSecond * BigInt(init.tickIntervalMs)) / 1000n
    // Deposit minus the higher of what is settled and what this provider already accepted.
    let { remaining: unspent } = await this.components.receiver.remaining(channelId)
    if (unspent < amountPerTick * BigInt(ticks)) {
      state = await read(true)
      unspent = (await this.components.receiver.remaining(channelId)).remaining
    }
    if (unspent < amountPerTick * BigInt(ticks)) {
      return {
        ok: false,
        status: LeaseStatus.INSUFFICIENT_FUNDS,
        reason: `The channel has ${unspent} unspent; ${seconds} s cost ${amountPerTick * BigInt(ticks)}`,
      }
    }
    if (threads > this.freeThreads()) {
      return { ok: false, status: LeaseStatus.BUSY, reason: `${this.freeThreads()} of ${init.threads} threads free` }
    }
    return {
      ok: true,
      models,
      quote: {
        leaseId: Uint8Array.from(randomBytes(32)),
        renterPeerId: renter.toMultihash().bytes as Uint8Array<ArrayBuffer>,
        channelId: Uint8Array.from(request.channelId),
        pricePerSecond: init.pricePerSecond,
        tickIntervalMs: init.tickIntervalMs,
        graceMs: init.graceMs,
        maxSeconds: seconds,
        threads,
        amountPerTick,
        expiresAtMs: BigInt(Date.now() + init.quoteTtlMs),
        voucherEveryTicks: init.voucherEveryTicks,
      },
    }
  }

  private release(threads: number, channelId: Hex): void {
    this.reservedThreads -= threads
    this.busyChannels.delete(channelId)
  }

  /** Read the renter's messages until the lease ends. */
  private async serve(lease: ActiveLease): Promise<void> {
    const { receiver } = this.components
    while (!lease.ended) {
      let message: RenterMessage
      try {
        message = await readMessage<RenterMessage>(lease.pb, RenterMessage, {})
      } catch (err) {
        if (!lease.ended) await this.end(lease, EndReason.RENTER_GONE, (err as Error).message)
        return
      }
      try {
        switch (message.kind) {
          case RenterMessage.Kind.TICK: {
            const tick = decodeTick(message.tick)
            if (tick.leaseId.toLowerCase() !== lease.info.leaseId) throw new RangeError('Tick for another lease')
            // A voucher settles a lease for a fraction of a tick proof's gas: a renter that stops sending them
            // is treated as one that stops paying.
            if (lease.ticksSinceVoucher >= this.init.voucherEveryTicks + VOUCHER_SLACK_TICKS) {
              const detail = `No voucher for ${lease.ticksSinceVoucher} ticks (one is due every ${this.init.voucherEveryTicks})`
              await this.end(lease, EndReason.PAYMENT_LATE, detail)
              return
            }
            const accepted = await receiver.acceptTick(lease.info.leaseId, tick.preimage, { index: tick.index })
            lease.ticksSinceVoucher++
            lease.commitmentTicks = accepted.ticks
            // The paid clock starts when the first tick arrives: serving begins once it is paid for.
            if (lease.info.ticksPaid === 0) lease.startedAtMono = now()
            lease.info.ticksPaid++
            lease.info.amountPaid += lease.amountPerTick
            lease.paidUntilMs = lease.info.ticksPaid * this.init.tickIntervalMs
            this.armLateTimer(lease)
            await this.send(lease, {
              kind: ProviderMessage.Kind.TICK_ACK,
              status: LeaseStatus.OK,
              total: amountToBytes(accepted.total),
            })
            break
          }
          case RenterMessage.Kind.VOUCHER: {
            const voucher = decodeVoucher(message.voucher)
            const accepted = await receiver.acceptVoucher(voucher, { channelId: lease.info.channelId })
            // On schedule if it covers what was accepted, but for ticks still in flight.
            const uncovered = (accepted.total - voucher.total) / lease.amountPerTick
            if (uncovered <= 1n) lease.ticksSinceVoucher = Math.max(0, Number(uncovered))
            await this.send(lease, {
              kind: ProviderMessage.Kind.VOUCHER_ACK,
              status: LeaseStatus.OK,
              total: amountToBytes(accepted.total),
            })
            break
          }
          case RenterMessage.Kind.RENEW: {
            // A new hash chain under the same lease id, starting at the channel's current total.
            const commitment = decodeSignedTickCommitment(message.commitment)
            const maxTicks = Math.floor((this.init.maxLeaseSeconds * 1000) / this.init.tickIntervalMs)
            if (commitment.commitment.maxTicks > maxTicks)
              throw new RangeError(`Commitment covers more than ${maxTicks} ticks`)
            await receiver.acceptCommitment(commitment, {
              channelId: lease.info.channelId,
              leaseId: lease.info.leaseId,
              amountPerTick: lease.amountPerTick,
            })
            lease.commitmentTicks = 0
            lease.commitmentMaxTicks = commitment.commitment.maxTicks
            await this.send(lease, { kind: ProviderMessage.Kind.RENEWED, status: LeaseStatus.OK })
            break
          }
          case RenterMessage.Kind.END: {
            if (message.voucher.length > 0) {
              await receiver
                .acceptVoucher(decodeVoucher(message.voucher), { channelId: lease.info.channelId })
                .catch((err: Error) => {
                  log('final voucher of %s refused - %s', lease.info.leaseId, err.message)
                })
            }
            await this.end(lease, EndReason.RENTER_ENDED)
            return
          }
          default:
            await this.end(lease, EndReason.PROTOCOL_ERROR, `Unexpected message ${String(message.kind)}`)
            return
        }
      } catch (err) {
        await this.end(lease, EndReason.PAYMENT_INVALID, (err as Error).message)
        return
      }
    }
  }

  /** Serving stops at the paid boundary; past it plus the grace, the lease ends. */
  private armLateTimer(lease: ActiveLease): void {
    clearTimeout(lease.timer)
    const due = lease.startedAtMono + lease.paidUntilMs + this.init.graceMs - now()
    lease.timer = setTimeout(
      () => {
        const reason = lease.commitmentTicks >= lease.commitmentMaxTicks ? EndReason.EXPIRED : EndReason.PAYMENT_LATE
        this.end(lease, reason).catch((err: Error) => log.error('ending lease failed - %e', err))
      },
      Math.max(0, due),
    )
    lease.timer.unref()
  }

  private async send(lease: ActiveLease, message: Partial<ProviderMessage>): Promise<void> {
    const full = providerMessage({
      ticksPaid: lease.info.ticksPaid,
      paidUntilMs: BigInt(lease.paidUntilMs),
      ...message,
    })
    const signal = AbortSignal.timeout(5_000)
    setMaxListeners(Infinity, signal)
    lease.writing = lease.writing.then(async () => lease.pb.write(full, ProviderMessage, { signal }))
    await lease.writing
  }

  private async end(lease: ActiveLease, reason: EndReason, detail = ''): Promise<void> {
    if (lease.ended) return
    lease.ended = true
    clearTimeout(lease.timer)
    this.components.receiver.endLease(lease.info.leaseId)
    this.active.delete(lease.info.leaseId)
    this.release(lease.info.threads, lease.info.channelId)
    lease.info.state = 'ended'
    lease.info.endedAt = Date.now()
    lease.info.endReason = EndReason[reason] as unknown as keyof typeof EndReason
    this.history.push(lease.info)
    if (this.history.length > this.init.historySize) this.history.shift()
    log('lease %s ended %s %s', lease.info.leaseId, String(reason), detail)
    try {
      lease.writing = Promise.resolve()
      await lease.pb.write(
        providerMessage({
          kind: ProviderMessage.Kind.ENDED,
          status: LeaseStatus.NOT_ACTIVE,
          reason: detail,
          ticksPaid: lease.info.ticksPaid,
          paidUntilMs: BigInt(lease.paidUntilMs),
          endReason: reason,
        }),
        ProviderMessage,
        { signal: AbortSignal.timeout(2_000) },
      )
      await lease.stream.close({ signal: AbortSignal.timeout(2_000) })
    } catch (err) {
      lease.stream.abort(err as Error)
    }
    this.init.onLeaseEnded?.(lease.info)
  }
}

/** Create the provider side of leases; pass `provider.admit` as the compute admission policy. */
export function createLeaseProvider(components: LeaseProviderComponents, init: LeaseProviderInit): LeaseProvider {
  return new LeaseProvider(components, init)
}
