import { randomBytes } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import { type Address, bytesToHex, type Hex, isAddressEqual, zeroAddress } from 'viem'
import type { MessageStream } from '../net/message-stream.js'
import { PeerSlots } from '../net/peer-slots.js'
import type { ChannelStateCache } from '../pay/channel-state-cache.js'
import { amountToBytes, decodeSignedTickCommitment } from '../pay/messages.js'
import type { PaymentReceiver } from '../pay/payment-receiver.js'
import { LEASE_LIMITS } from './constants.js'
import { providerMessage } from './messages.js'
import { amountPerTick, costOfTicks, ticksIn } from './metering.js'
import { LeaseReply, type LeaseRequest, LeaseStatus, ProviderMessage, RenterMessage } from './pb/lease.js'
import type { Quote } from './quote.js'

/*
 * The provider's side of negotiating a lease: check a request and quote it (a quote reserves nothing), check the
 * renter's ACCEPT, refuse with a status. The provider takes threads and the channel only once an ACCEPT passes.
 */

/** A refusal: the status and reason the renter is told. */
export interface Refusal {
  ok: false
  status: LeaseStatus
  reason: string
}

/** What a provider sells, as quotes state it. */
export interface QuoteTerms {
  payoutAddress: Address
  providerNode: Hex
  token?: Address | undefined
  pricePerSecond: bigint
  tickIntervalMs: number
  graceMs: number
  maxLeaseSeconds: number
  quoteTtlMs: number
  voucherEveryTicks: number
  /** Threads this provider sells in all. */
  threads: number
}

/** What quoting reads: the models held, the channel on chain, what is unspent, the capacity free now. */
export interface QuoteContext {
  models: { has(sha256: string): Promise<boolean> }
  channels: Pick<ChannelStateCache, 'get'>
  receiver: Pick<PaymentReceiver, 'remaining'>
  /** Does the channel already carry an active lease? */
  channelInLease(channelId: Hex): boolean
  freeThreads(): number
}

export const CHANNEL_IN_LEASE = 'The channel already has an active lease (leases on a channel are sequential)'

const refuse = (status: LeaseStatus, reason: string): Refusal => ({ ok: false, status, reason })

/** Check a request and, if it can be served now, make a quote (which reserves nothing). */
export async function quoteLease(
  request: LeaseRequest,
  renter: PeerId,
  terms: QuoteTerms,
  context: QuoteContext,
): Promise<{ ok: true; quote: Quote; models: Set<string> } | Refusal> {
  if (request.models.length > LEASE_LIMITS.maxModels || request.models.some((m) => m.length !== 32)) {
    return refuse(LeaseStatus.BAD_REQUEST, `At most ${LEASE_LIMITS.maxModels} 32-byte model hashes`)
  }
  if (request.channelId.length !== 32) return refuse(LeaseStatus.BAD_REQUEST, 'channel_id must be 32 bytes')
  if (request.seconds < 1) return refuse(LeaseStatus.BAD_REQUEST, 'seconds must be at least 1')
  const threads = Math.max(1, request.threads)
  if (request.maxPricePerSecond < terms.pricePerSecond) {
    return refuse(LeaseStatus.PRICE_TOO_LOW, `Price is ${terms.pricePerSecond} per second`)
  }
  const models = new Set(request.models.map((m) => Buffer.from(m).toString('hex')))
  for (const model of models) {
    if (!(await context.models.has(model))) return refuse(LeaseStatus.MODEL_NOT_FOUND, `No model ${model}`)
  }
  const channelId = bytesToHex(request.channelId)
  // Through the cache (a stranger's flood of requests costs one chain read per channel per TTL); forced fresh
  // only when the cached deposit looks short, as after a top-up.
  const read = (force: boolean) => context.channels.get(channelId, { force, signal: AbortSignal.timeout(10_000) })
  let state = await read(false)
  if (state == null || state.deposit === 0n) return refuse(LeaseStatus.CHANNEL_INVALID, 'Unknown channel')
  if (!isAddressEqual(state.provider, terms.payoutAddress)) {
    return refuse(LeaseStatus.CHANNEL_INVALID, 'The channel pays another provider')
  }
  if (state.providerNode.toLowerCase() !== terms.providerNode.toLowerCase()) {
    return refuse(
      LeaseStatus.CHANNEL_INVALID,
      'The channel is bound to another node of this payout address (open one for this peer id)',
    )
  }
  if (!isAddressEqual(state.token, terms.token ?? zeroAddress)) {
    return refuse(LeaseStatus.CHANNEL_INVALID, 'The channel is in another token')
  }
  if (state.closeRequestedAt !== 0n) return refuse(LeaseStatus.CHANNEL_INVALID, 'The channel is closing')
  if (context.channelInLease(channelId)) return refuse(LeaseStatus.CHANNEL_INVALID, CHANNEL_IN_LEASE)
  const seconds = Math.min(request.seconds, terms.maxLeaseSeconds)
  const perTick = amountPerTick(terms.pricePerSecond, terms.tickIntervalMs)
  const cost = costOfTicks(ticksIn(seconds, terms.tickIntervalMs), perTick)
  // Deposit minus the higher of what is settled and what this provider already accepted (the channel's total, which
  // the quote tells the renter: its commitment must start there).
  let { remaining: unspent, total } = await context.receiver.remaining(channelId)
  if (unspent < cost) {
    state = await read(true)
    ;({ remaining: unspent, total } = await context.receiver.remaining(channelId))
  }
  if (unspent < cost) {
    return refuse(LeaseStatus.INSUFFICIENT_FUNDS, `The channel has ${unspent} unspent; ${seconds} s cost ${cost}`)
  }
  if (threads > context.freeThreads()) return refuse(LeaseStatus.BUSY, threadsFree(context, terms))
  return {
    ok: true,
    models,
    quote: {
      leaseId: Uint8Array.from(randomBytes(32)),
      renterPeerId: renter.toMultihash().bytes as Uint8Array<ArrayBuffer>,
      channelId: Uint8Array.from(request.channelId),
      pricePerSecond: terms.pricePerSecond,
      tickIntervalMs: terms.tickIntervalMs,
      graceMs: terms.graceMs,
      maxSeconds: seconds,
      threads,
      amountPerTick: perTick,
      expiresAtMs: BigInt(Date.now() + terms.quoteTtlMs),
      voucherEveryTicks: terms.voucherEveryTicks,
      channelTotal: amountToBytes(total),
    },
  }
}

function threadsFree(context: Pick<QuoteContext, 'freeThreads'>, terms: Pick<QuoteTerms, 'threads'>): string {
  return `${context.freeThreads()} of ${terms.threads} threads free`
}

/** Read the renter's answer to a quote; undefined when none came before the quote expired. */
export async function readAccept(messages: MessageStream, quote: Quote): Promise<RenterMessage | undefined> {
  const signal = AbortSignal.timeout(Math.max(1, Number(quote.expiresAtMs) - Date.now()))
  return messages.read(RenterMessage, { signal }).catch((err: Error) => {
    if (signal.aborted) return undefined
    throw err
  })
}

/**
 * Check the renter's answer to a quote: an ACCEPT in time, whose commitment decodes and covers no more than the
 * quote, for a channel with no lease and threads still free (a quote reserved nothing, so both are checked again).
 */
export function checkAccept(
  accept: RenterMessage | undefined,
  quote: Quote,
  context: Pick<QuoteContext, 'channelInLease' | 'freeThreads'>,
  terms: Pick<QuoteTerms, 'threads'>,
): { ok: true; commitment: ReturnType<typeof decodeSignedTickCommitment> } | Refusal {
  if (accept === undefined || Date.now() > Number(quote.expiresAtMs)) {
    return refuse(LeaseStatus.QUOTE_EXPIRED, 'The quote expired before it was accepted')
  }
  if (accept.kind !== RenterMessage.Kind.ACCEPT) {
    return refuse(LeaseStatus.BAD_REQUEST, `Expected ACCEPT, got ${String(accept.kind)}`)
  }
  const maxTicks = ticksIn(quote.maxSeconds, quote.tickIntervalMs)
  let commitment: ReturnType<typeof decodeSignedTickCommitment>
  try {
    commitment = decodeSignedTickCommitment(accept.commitment)
    if (commitment.commitment.maxTicks > maxTicks) throw new RangeError(`Commitment covers more than ${maxTicks} ticks`)
  } catch (err) {
    return refuse(LeaseStatus.PAYMENT_INVALID, (err as Error).message)
  }
  if (context.channelInLease(bytesToHex(quote.channelId))) return refuse(LeaseStatus.CHANNEL_INVALID, CHANNEL_IN_LEASE)
  if (quote.threads > context.freeThreads()) return refuse(LeaseStatus.BUSY, threadsFree(context, terms))
  return { ok: true, commitment }
}

/** Refuse a request (a LeaseReply with no quote) and close at once: a renter that keeps its side open is reset. */
export async function refuseRequest(messages: MessageStream, refusal: Refusal, signal: AbortSignal): Promise<void> {
  const reply = { status: refusal.status, reason: refusal.reason, quote: new Uint8Array(), signature: new Uint8Array() }
  await messages.write(reply, LeaseReply, { signal })
  await messages.end({ signal })
}

/** Refuse to start a quoted lease (STARTED with the status) and close at once, as {@link refuseRequest}. */
export async function refuseStart(messages: MessageStream, refusal: Refusal): Promise<void> {
  const signal = AbortSignal.timeout(LEASE_LIMITS.requestTimeoutMs)
  const started = providerMessage({
    kind: ProviderMessage.Kind.STARTED,
    status: refusal.status,
    reason: refusal.reason,
  })
  await messages.write(started, ProviderMessage, { signal })
  await messages.end({ signal })
}

/**
 * Leases being negotiated, per peer and in all: each may read the chain and none holds capacity, so a peer gets only
 * a few at a time.
 */
export class NegotiationSlots extends PeerSlots {
  constructor(maxPerPeer: number = LEASE_LIMITS.maxNegotiationsPerPeer, max: number = LEASE_LIMITS.maxNegotiations) {
    super(maxPerPeer, max)
  }
}
