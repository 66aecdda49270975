import type { Hex } from 'viem'
import { toJson } from '../json.js'
import type { ProviderBooks, RenterBooks } from './audit.js'
import type { SwarmMetrics } from './metrics.js'
import type { FirstPaidPhase } from './phases.js'

/**
 * What a part of a split run keeps in its report.json for the merge (`parkbench swarm report --merge`): its
 * members' books to the wei, the raw samples behind its distributions, and what went wrong. A channel between
 * members of two parts is only whole once both parts' books are put together. Amounts are decimal strings.
 */
export interface PartBooks {
  /** The ids of the nodes the part ran. */
  owned: string[]
  providers: unknown[]
  renters: unknown[]
  crashes: string[]
  samples: {
    timeToFirstOfferMs: number[]
    timeToFirstPaidResultMs: number[]
    inferLatencyMs: number[]
    /** Absent in parts written before it existed. */
    firstPaidPhasesMs?: Record<FirstPaidPhase, number[]>
  }
  hostile: { freeJobs: number; attacks: number }
  /** When the part read its books (ms since the epoch): a lease still running then is counted up to it. */
  auditedAt: number
}

export interface EncodePartBooksInput {
  providers: ProviderBooks[]
  renters: RenterBooks[]
  crashes: string[]
  metrics: SwarmMetrics
  owned: string[]
}

export function encodePartBooks(input: EncodePartBooksInput): PartBooks {
  const { metrics } = input
  return JSON.parse(
    toJson({
      owned: input.owned,
      providers: input.providers,
      renters: input.renters,
      crashes: input.crashes,
      samples: {
        timeToFirstOfferMs: metrics.timeToFirstOfferMs,
        timeToFirstPaidResultMs: metrics.timeToFirstPaidResultMs,
        inferLatencyMs: metrics.inferLatencyMs,
        firstPaidPhasesMs: metrics.firstPaidPhasesMs,
      },
      hostile: { freeJobs: metrics.freeJobs, attacks: metrics.attacks.sent },
      auditedAt: Date.now(),
    }),
  ) as PartBooks
}

type Raw = Record<string, any>

/** The providers' and renters' books of a part, amounts as bigints again. */
export function decodePartBooks(books: PartBooks): { providers: ProviderBooks[]; renters: RenterBooks[] } {
  const lease = (l: Raw) => ({ ...l, pricePerSecond: BigInt(l.pricePerSecond), amountPaid: BigInt(l.amountPaid) })
  const pairs = (list: Array<[string, string]>): Array<[Hex, bigint]> =>
    list.map(([channelId, amount]) => [channelId as Hex, BigInt(amount)])
  return {
    providers: (books.providers as Raw[]).map((p) => ({
      id: p.id,
      wrongResults: p.wrongResults === true,
      acknowledged: pairs(p.acknowledged),
      leases: (p.leases as Raw[]).map(lease) as ProviderBooks['leases'],
      settlementGas: BigInt(p.settlementGas),
      problems: p.problems,
    })),
    renters: (books.renters as Raw[]).map((r) => ({
      id: r.id,
      authorised: pairs(r.authorised),
      leases: (r.leases as Raw[]).map(lease) as RenterBooks['leases'],
    })),
  }
}
