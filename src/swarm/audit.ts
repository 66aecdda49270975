import type { Hex } from 'viem'
import type { LeaseInfo } from '../lease/metered-lease.js'
import { createPayPublicClient } from '../pay/clients.js'
import { devChainConfig } from '../pay/dev-chain.js'
import { auditChannelMoney } from '../pay/money-audit.js'
import type { SwarmContext, SwarmProvider, SwarmRenter } from './members.js'
import type { ChannelMoneyRow, InvariantResult } from './report-types.js'

export interface SwarmAudit {
  channels: ChannelMoneyRow[]
  total: {
    deposited: bigint
    authorised: bigint
    acknowledged: bigint
    settled: bigint
    refunded: bigint
    held: bigint
  }
  conserved: boolean
  invariants: InvariantResult[]
  /** What the providers that return wrong results were paid (acknowledged). */
  wrongResultEarned: bigint
  /** Gas the final settlements cost, wei. */
  settlementGas: bigint
}

/** The most a renter may have paid for a lease: every second it was served, and the one tick it prepaid. */
function leaseCeiling(lease: LeaseInfo, endMs: number): bigint {
  const seconds = Math.ceil(((lease.endedAt ?? endMs) - lease.startedAt) / 1000)
  return BigInt(Math.max(0, seconds) + 1) * lease.pricePerSecond
}

/**
 * The run's end: every provider (those that left or were killed come back on their data dirs, as an owner would)
 * settles every channel it holds a payment on, forced, so the audit can hold settled = acknowledged on each. Then
 * the books of every channel, to the wei, from the chain's events and state against both ends' own records, and
 * the invariants: money conserved, no honest node crashed, no free work, no renter paid more than a tick beyond
 * the seconds it was served.
 */
export async function settleAndAudit(
  ctx: SwarmContext,
  providers: Map<string, SwarmProvider>,
  renters: Map<string, SwarmRenter>,
  crashes: string[],
): Promise<SwarmAudit> {
  const acknowledged = new Map<Hex, { provider: SwarmProvider; amount: bigint }>()
  let settlementGas = 0n
  const startFailures: string[] = []
  for (const provider of providers.values()) {
    if (provider.daemon === undefined) {
      try {
        await provider.start()
      } catch (err) {
        startFailures.push(`${provider.spec.id}: ${(err as Error).message}`)
        continue
      }
    }
    const daemon = provider.daemon!
    const results = await daemon.settler!.settle(undefined, { force: true }).catch((err: Error) => {
      startFailures.push(`${provider.spec.id} could not settle: ${err.message}`)
      return []
    })
    for (const r of results) settlementGas += r.gasCost
    for (const channelId of daemon.receiver!.channelIds()) {
      acknowledged.set(channelId, { provider, amount: daemon.receiver!.channelTotal(channelId) })
    }
  }
  const renterOf = new Map<Hex, SwarmRenter>()
  for (const renter of renters.values()) for (const ch of renter.channels) renterOf.set(ch, renter)
  const ids = [...new Set<Hex>([...acknowledged.keys(), ...renterOf.keys()])].sort()
  const chain = devChainConfig(ctx.chain)
  const audited = await auditChannelMoney({
    client: createPayPublicClient(chain),
    contract: chain.contract,
    fromBlock: BigInt(ctx.chain.deployBlock),
    channels: ids.map((channelId) => ({
      channelId,
      authorised: renterOf.get(channelId)?.authorised.get(channelId) ?? 0n,
      acknowledged: acknowledged.get(channelId)?.amount ?? 0n,
      finalSettlement: acknowledged.has(channelId),
    })),
  })
  const total = { deposited: 0n, authorised: 0n, acknowledged: 0n, settled: 0n, refunded: 0n, held: 0n }
  const overpaid: string[] = []
  const endMs = Date.now()
  let wrongResultEarned = 0n
  const channels: ChannelMoneyRow[] = audited.map((books) => {
    const renter = renterOf.get(books.channelId)
    const ack = acknowledged.get(books.channelId)
    const authorised = renter?.authorised.get(books.channelId) ?? 0n
    const amount = ack?.amount ?? 0n
    if (ack?.provider.spec.wrongResults === true) wrongResultEarned += amount
    // Every lease on the channel, as its provider recorded it: the renter paid at most a tick past each.
    const leases = [...(ack?.provider.endedLeases ?? []), ...(ack?.provider.daemon?.leaseList() ?? [])].filter(
      (l, i, all) => l.channelId === books.channelId && all.findIndex((x) => x.leaseId === l.leaseId) === i,
    )
    const ceiling = leases.reduce((sum, l) => sum + leaseCeiling(l, endMs), 0n)
    if (authorised > ceiling) {
      overpaid.push(
        `${books.channelId}: authorised ${authorised} > ${ceiling} (served seconds + 1 tick, ${leases.length} leases)`,
      )
    }
    total.deposited += books.deposited
    total.authorised += authorised
    total.acknowledged += amount
    total.settled += books.settled
    total.refunded += books.refunded
    total.held += books.held
    return {
      channelId: books.channelId,
      renter: renter?.spec.id ?? '?',
      provider: ack?.provider.spec.id ?? '?',
      authorised: authorised.toString(),
      acknowledged: amount.toString(),
      settled: books.settled.toString(),
      refunded: books.refunded.toString(),
      held: books.held.toString(),
      deposited: books.deposited.toString(),
      ok: books.violation === undefined,
    }
  })
  const broken = audited.filter((b) => b.violation !== undefined)
  const conserved = broken.length === 0
  const invariants: InvariantResult[] = [
    {
      name: 'money-conserved',
      ok: conserved,
      detail: conserved
        ? `${channels.length} channels: deposited ${total.deposited} = settled ${total.settled} + refunded ${total.refunded} + held ${total.held}; settled = acknowledged <= authorised on each`
        : broken
            .map((b) => b.violation!.message)
            .slice(0, 5)
            .join('; '),
    },
    {
      name: 'no-honest-crash',
      ok: crashes.length === 0 && startFailures.length === 0,
      detail:
        crashes.length + startFailures.length === 0
          ? 'no uncaught error in the process, every node started and settled'
          : [...crashes, ...startFailures].slice(0, 5).join('; '),
    },
    {
      name: 'no-free-work',
      ok: ctx.metrics.freeJobs === 0,
      detail: `${ctx.metrics.freeJobs} inference jobs served to renters without a lease (${ctx.metrics.attacks.sent} hostile moves)`,
    },
    {
      name: 'overpay-within-one-tick',
      ok: overpaid.length === 0,
      detail:
        overpaid.length === 0
          ? 'on every channel, authorised <= sum over its leases of (seconds served + 1) x price'
          : overpaid.slice(0, 5).join('; '),
    },
  ]
  return { channels, total, conserved, invariants, wrongResultEarned, settlementGas }
}
