import type { Hex } from 'viem'
import type { LeaseInfo } from '../lease/metered-lease.js'
import type { RenterLeaseSummary } from '../lease/renter-lease.js'
import type { ChainConfig } from '../pay/chain-config.js'
import { createPayPublicClient } from '../pay/clients.js'
import { auditChannelMoney } from '../pay/money-audit.js'
import type { SwarmProvider, SwarmRenter } from './members.js'
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

/** What a provider holds at the run's end, after its final settlement. */
export interface ProviderBooks {
  id: string
  wrongResults: boolean
  /** Per channel, what it acknowledged. */
  acknowledged: Array<[Hex, bigint]>
  /** Every lease it served (ended, and any still running). */
  leases: LeaseInfo[]
  settlementGas: bigint
  /** Why it could not start again or settle, if it could not. */
  problems: string[]
}

/** What a renter holds at the run's end, after it stopped. */
export interface RenterBooks {
  id: string
  /** Per channel, what it authorised. */
  authorised: Array<[Hex, bigint]>
  /** The leases it held, as it summed them up. */
  leases: RenterLeaseSummary[]
}

/**
 * A provider's end of the run: one that left or was killed comes back on its data dir (as an owner would), then
 * settles every channel it holds a payment on, forced, so that the audit can hold settled = acknowledged on each.
 */
export async function settleProvider(provider: SwarmProvider): Promise<ProviderBooks> {
  const books: ProviderBooks = {
    id: provider.spec.id,
    wrongResults: provider.spec.wrongResults === true,
    acknowledged: [],
    leases: [],
    settlementGas: 0n,
    problems: [],
  }
  if (provider.daemon === undefined) {
    try {
      await provider.start()
    } catch (err) {
      books.problems.push(`${provider.spec.id}: ${(err as Error).message}`)
      books.leases = [...provider.endedLeases]
      return books
    }
  }
  const daemon = provider.daemon!
  const results = await daemon.settler!.settle(undefined, { force: true }).catch((err: Error) => {
    books.problems.push(`${provider.spec.id} could not settle: ${err.message}`)
    return []
  })
  for (const r of results) books.settlementGas += r.gasCost
  for (const channelId of daemon.receiver!.channelIds()) {
    books.acknowledged.push([channelId, daemon.receiver!.channelTotal(channelId)])
  }
  const seen = new Set<string>()
  for (const lease of [...provider.endedLeases, ...daemon.leaseList()]) {
    if (seen.has(lease.leaseId)) continue
    seen.add(lease.leaseId)
    books.leases.push(lease)
  }
  return books
}

/** A renter's end of the run: what it authorised on each channel it used (read after it stopped). */
export function renterBooks(renter: SwarmRenter): RenterBooks {
  return { id: renter.spec.id, authorised: [...renter.authorised], leases: [...renter.leases] }
}

export interface AuditInput {
  chain: ChainConfig & { deployBlock: number }
  providers: ProviderBooks[]
  renters: RenterBooks[]
  /** Uncaught errors seen in the run's processes. */
  crashes: string[]
  hostile: { freeJobs: number; attacks: number }
  /**
   * One part of a split run: a channel between one of its members and another part's is checked on what this part
   * holds (the chain's books, and settled = acknowledged where the provider is its own); the rest is the merge's.
   */
  part?: boolean
}

/**
 * What a channel's renter paid beyond the rule: on each lease at most one tick past the seconds its provider served
 * (one tick for a lease its provider has no record of: it died, or refused, before acknowledging anything), and
 * nothing authorised outside a lease. `authorised` undefined: the renter's books are not known.
 */
export function channelOverpayments(
  channelId: Hex,
  providerLeases: LeaseInfo[],
  renterLeases: RenterLeaseSummary[],
  authorised: bigint | undefined,
  endMs: number,
): string[] {
  const overpaid: string[] = []
  const served = new Map(providerLeases.filter((l) => l.channelId === channelId).map((l) => [l.leaseId, l]))
  const limits = new Map([...served].map(([id, l]) => [id, leaseCeiling(l, endMs)]))
  for (const lease of renterLeases.filter((l) => l.channelId === channelId)) {
    const limit = limits.get(lease.leaseId) ?? lease.pricePerSecond
    limits.set(lease.leaseId, limit)
    if (lease.amountPaid > limit) {
      overpaid.push(`lease ${lease.leaseId}: paid ${lease.amountPaid} > ${limit} (seconds served + 1 tick)`)
    }
  }
  const ceiling = [...limits.values()].reduce((a, b) => a + b, 0n)
  if (authorised !== undefined && authorised > ceiling) {
    overpaid.push(`${channelId}: authorised ${authorised} > ${ceiling} over its ${limits.size} leases`)
  }
  return overpaid
}

/**
 * The books of every channel, to the wei, from the chain's events and state against both ends' own records, and
 * the invariants: money conserved, no honest node crashed, no free work, no renter paid more than a tick beyond
 * the seconds it was served.
 */
export async function auditSwarm(input: AuditInput): Promise<SwarmAudit> {
  const acknowledged = new Map<Hex, { provider: ProviderBooks; amount: bigint }>()
  let settlementGas = 0n
  const startFailures: string[] = []
  for (const p of input.providers) {
    settlementGas += p.settlementGas
    startFailures.push(...p.problems)
    for (const [channelId, amount] of p.acknowledged) acknowledged.set(channelId, { provider: p, amount })
  }
  const renterOf = new Map<Hex, { renter: RenterBooks; authorised: bigint }>()
  for (const renter of input.renters) {
    for (const [ch, authorised] of renter.authorised) renterOf.set(ch, { renter, authorised })
  }
  const ids = [...new Set<Hex>([...acknowledged.keys(), ...renterOf.keys()])].sort()
  const { chain } = input
  const audited = await auditChannelMoney({
    client: createPayPublicClient(chain),
    contract: chain.contract,
    fromBlock: BigInt(chain.deployBlock),
    channels: ids.map((channelId) => {
      const authorised = renterOf.get(channelId)?.authorised
      const amount = acknowledged.get(channelId)?.amount
      // A part that holds one end only stands the other end in with its own figure: the rule between the two ends
      // (acknowledged <= authorised) is the merge's to check.
      const remote = input.part === true && (authorised === undefined || amount === undefined)
      return {
        channelId,
        authorised: authorised ?? (remote ? amount! : 0n),
        acknowledged: amount ?? (remote ? authorised! : 0n),
        finalSettlement: acknowledged.has(channelId),
      }
    }),
  })
  const total = { deposited: 0n, authorised: 0n, acknowledged: 0n, settled: 0n, refunded: 0n, held: 0n }
  const overpaid: string[] = []
  const endMs = Date.now()
  let wrongResultEarned = 0n
  const channels: ChannelMoneyRow[] = audited.map((books) => {
    const renter = renterOf.get(books.channelId)
    const ack = acknowledged.get(books.channelId)
    const authorised = renter?.authorised ?? 0n
    const amount = ack?.amount ?? 0n
    if (ack?.provider.wrongResults === true) wrongResultEarned += amount
    // In one part of a split run, a channel whose other end is on another part is checked by the merge.
    if (input.part !== true || (renter !== undefined && ack !== undefined)) {
      overpaid.push(
        ...channelOverpayments(
          books.channelId,
          ack?.provider.leases ?? [],
          renter?.renter.leases ?? [],
          renter && authorised,
          endMs,
        ),
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
      renter: renter?.renter.id ?? '?',
      provider: ack?.provider.id ?? '?',
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
  const crossPart =
    ids.filter((id) => !renterOf.has(id) || !acknowledged.has(id)).length * (input.part === true ? 1 : 0)
  const conserved = broken.length === 0
  const invariants: InvariantResult[] = [
    {
      name: 'money-conserved',
      ok: conserved,
      detail: conserved
        ? `${channels.length} channels: deposited ${total.deposited} = settled ${total.settled} + refunded ${total.refunded} + held ${total.held}; ${
            crossPart === 0
              ? 'settled = acknowledged <= authorised on each'
              : `settled = acknowledged <= authorised on each with both ends here; ${crossPart} known to one end only here (the other end on another part, or never paid) are checked whole by swarm report --merge`
          }`
        : broken
            .map((b) => b.violation!.message)
            .slice(0, 5)
            .join('; '),
    },
    {
      name: 'no-honest-crash',
      ok: input.crashes.length === 0 && startFailures.length === 0,
      detail:
        input.crashes.length + startFailures.length === 0
          ? 'no uncaught error in any process, every node started and settled'
          : [...input.crashes, ...startFailures].slice(0, 5).join('; '),
    },
    {
      name: 'no-free-work',
      ok: input.hostile.freeJobs === 0,
      detail: `${input.hostile.freeJobs} inference jobs served to renters without a lease (${input.hostile.attacks} hostile moves)`,
    },
    {
      name: 'overpay-within-one-tick',
      ok: overpaid.length === 0,
      detail:
        overpaid.length === 0
          ? 'every lease paid at most one tick past the seconds served, and no channel authorised more than its leases'
          : overpaid.slice(0, 5).join('; '),
    },
  ]
  return { channels, total, conserved, invariants, wrongResultEarned, settlementGas }
}
