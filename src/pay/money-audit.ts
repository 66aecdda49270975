import { AssertionError } from 'node:assert'
import type { Address, Client, Hex } from 'viem'
import { getContractEvents, readContract } from 'viem/actions'
import { PAYMENT_CHANNEL_ABI } from './contract/artifact.js'

/** One channel's off-chain view of its money, from both ends of the lease. */
export interface ChannelMoney {
  channelId: Hex
  /** What the renter has authorised on the channel: `PaymentSender.channelTotal(channelId)`. */
  authorised: bigint
  /** What the provider has acknowledged: `PaymentReceiver.channelTotal(channelId)`. */
  acknowledged: bigint
  /** The provider has settled its best proof since its last acknowledgement: settled must equal acknowledged. */
  finalSettlement?: boolean
}

export interface AssertMoneyConservedParameters {
  /** Any client that reads the chain. */
  client: Client
  /** The PaymentChannel contract the channels live on. */
  contract: Address
  channels: ChannelMoney[]
  /** Where the channels' events start (at or before each ChannelOpened); default 0. */
  fromBlock?: bigint
  /**
   * The most the renter may have authorised beyond what the provider acknowledged: one tick in flight (a sender
   * records each tick before handing it out). Omit to skip the bound (e.g. an adversarial renter signing anything).
   */
  maxUnacknowledged?: bigint
}

/** One channel's books, from its events and its on-chain state, to the wei. */
export interface ChannelBooks {
  channelId: Hex
  /** ChannelOpened deposit plus every ChannelToppedUp amount. */
  deposited: bigint
  /** The sum of every ChannelSettled `paid`: what the provider received. */
  settled: bigint
  /** ChannelWithdrawn refund: what the renter got back. */
  refunded: bigint
  /** Still in the contract: deposit - settled while the channel exists, 0 once withdrawn. */
  held: bigint
  /** The channel still exists on-chain. */
  open: boolean
}

type ChannelEvent = { eventName: string; args: Record<string, unknown>; blockNumber: bigint; logIndex: number }

/** Which equation failed: tests match on it, not on the message. */
export type MoneyRule =
  /** The events disagree with each other or with the on-chain state (a settlement or refund of the wrong amount). */
  | 'events'
  /** deposited != settled + refunded + held. */
  | 'deposits'
  /** settled > acknowledged: the provider was paid for something it never acknowledged. */
  | 'settled-above-acknowledged'
  /** acknowledged > authorised: the provider acknowledged more than the renter signed. */
  | 'acknowledged-above-authorised'
  /** authorised - acknowledged > maxUnacknowledged. */
  | 'in-flight'
  /** After a final settlement, settled != acknowledged. */
  | 'final-settlement'

export class MoneyNotConservedError extends AssertionError {
  readonly rule: MoneyRule
  readonly channelId: Hex
  constructor(rule: MoneyRule, channelId: Hex, message: string) {
    super({ message: `money not conserved on channel ${channelId} (${rule}): ${message}` })
    this.rule = rule
    this.channelId = channelId
  }
}

function fail(channelId: Hex, message: string, rule: MoneyRule = 'events'): never {
  throw new MoneyNotConservedError(rule, channelId, message)
}

/**
 * Check that a set of channels conserved money, to the wei, from the chain's events (ChannelOpened deposit,
 * ChannelToppedUp, ChannelSettled paid, ChannelWithdrawn refund) and state: per channel,
 *   deposited = settled + refunded + held,
 *   settled <= acknowledged <= authorised,
 *   authorised - acknowledged <= maxUnacknowledged (when given),
 *   settled = acknowledged after a final settlement;
 * and each event agrees with the running totals (a settlement pays exactly total - settled, a refund is exactly
 * deposit - settled, the on-chain deposit and settled are what the events add up to). Throws a
 * {@link MoneyNotConservedError} (an AssertionError naming the channel, the rule and the numbers); returns each
 * channel's books.
 *
 * @example
 * await assertMoneyConserved({
 *   client: publicClient,
 *   contract,
 *   channels: [{ channelId, authorised: sender.channelTotal(channelId), acknowledged: receiver.channelTotal(channelId) }],
 *   maxUnacknowledged: amountPerTick,
 * })
 */
export async function assertMoneyConserved(params: AssertMoneyConservedParameters): Promise<ChannelBooks[]> {
  const audited = await auditChannelMoney(params)
  const broken = audited.find((books) => books.violation !== undefined)
  if (broken?.violation !== undefined) throw broken.violation
  return audited
}

/** One channel's books, and the first rule they break if any. */
export interface AuditedChannel extends ChannelBooks {
  violation?: MoneyNotConservedError
}

/**
 * The same checks as {@link assertMoneyConserved}, channel by channel, without throwing: each channel's books with
 * the first rule it breaks (a channel with no ChannelOpened event has zero books and a violation).
 */
export async function auditChannelMoney(params: AssertMoneyConservedParameters): Promise<AuditedChannel[]> {
  const logs = (await getContractEvents(params.client, {
    address: params.contract,
    abi: PAYMENT_CHANNEL_ABI,
    fromBlock: params.fromBlock ?? 0n,
    toBlock: 'latest',
  })) as unknown as ChannelEvent[]
  const sorted = [...logs].sort((a, b) =>
    a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1,
  )
  const out: AuditedChannel[] = []
  for (const channel of params.channels) {
    try {
      out.push(await auditOne(params, sorted, channel))
    } catch (err) {
      if (!(err instanceof MoneyNotConservedError)) throw err
      out.push({
        channelId: channel.channelId,
        deposited: 0n,
        settled: 0n,
        refunded: 0n,
        held: 0n,
        open: false,
        violation: err,
      })
    }
  }
  return out
}

async function auditOne(
  params: AssertMoneyConservedParameters,
  sorted: ChannelEvent[],
  channel: ChannelMoney,
): Promise<ChannelBooks> {
  const id = channel.channelId.toLowerCase()
  let opened = 0
  let deposited = 0n
  let settledTotal = 0n
  let paid = 0n
  let refunded = 0n
  let withdrawn = false
  for (const log of sorted) {
    if (String(log.args.channelId ?? '').toLowerCase() !== id) continue
    switch (log.eventName) {
      case 'ChannelOpened':
        opened++
        deposited = log.args.deposit as bigint
        break
      case 'ChannelToppedUp':
        deposited += log.args.amount as bigint
        if (log.args.deposit !== deposited) {
          fail(channel.channelId, `a top-up reports deposit ${log.args.deposit}, the events add up to ${deposited}`)
        }
        break
      case 'ChannelSettled': {
        const total = log.args.total as bigint
        if (total <= settledTotal) fail(channel.channelId, `a settlement at ${total} after ${settledTotal}`)
        if (log.args.paid !== total - settledTotal) {
          fail(channel.channelId, `a settlement to ${total} paid ${log.args.paid}, not ${total - settledTotal}`)
        }
        paid += log.args.paid as bigint
        settledTotal = total
        break
      }
      case 'ChannelWithdrawn':
        if (log.args.refund !== deposited - settledTotal) {
          fail(channel.channelId, `refunded ${log.args.refund}, not deposit - settled = ${deposited - settledTotal}`)
        }
        refunded += log.args.refund as bigint
        withdrawn = true
        break
    }
  }
  if (opened !== 1) {
    fail(channel.channelId, `${opened} ChannelOpened events since block ${params.fromBlock ?? 0n}: no deposit to count`)
  }
  const state = await readContract(params.client, {
    address: params.contract,
    abi: PAYMENT_CHANNEL_ABI,
    functionName: 'getChannel',
    args: [channel.channelId],
  })
  const open = !/^0x0{40}$/.test(state.renter)
  let held = 0n
  if (open) {
    if (withdrawn) fail(channel.channelId, 'withdrawn, yet still on-chain')
    if (state.deposit !== deposited) {
      fail(channel.channelId, `on-chain deposit ${state.deposit}, the events add up to ${deposited}`)
    }
    if (state.settled !== settledTotal) {
      fail(channel.channelId, `on-chain settled ${state.settled}, the events add up to ${settledTotal}`)
    }
    held = state.deposit - state.settled
  } else if (!withdrawn) {
    fail(channel.channelId, 'gone from the chain without a ChannelWithdrawn event')
  }
  if (deposited !== paid + refunded + held) {
    fail(
      channel.channelId,
      `deposited ${deposited} != settled ${paid} + refunded ${refunded} + held ${held} (${deposited - paid - refunded - held} unaccounted)`,
      'deposits',
    )
  }
  if (paid > channel.acknowledged) {
    fail(
      channel.channelId,
      `settled ${paid} is more than the provider acknowledged (${channel.acknowledged})`,
      'settled-above-acknowledged',
    )
  }
  if (channel.acknowledged > channel.authorised) {
    fail(
      channel.channelId,
      `the provider acknowledged ${channel.acknowledged}, more than the renter authorised (${channel.authorised})`,
      'acknowledged-above-authorised',
    )
  }
  if (params.maxUnacknowledged != null && channel.authorised - channel.acknowledged > params.maxUnacknowledged) {
    fail(
      channel.channelId,
      `the renter authorised ${channel.authorised} but only ${channel.acknowledged} was acknowledged: more than ${params.maxUnacknowledged} in flight`,
      'in-flight',
    )
  }
  if (channel.finalSettlement === true && paid !== channel.acknowledged) {
    fail(
      channel.channelId,
      `after the final settlement, settled ${paid} != acknowledged ${channel.acknowledged}`,
      'final-settlement',
    )
  }
  return { channelId: channel.channelId, deposited, settled: paid, refunded, held, open }
}
