import type { Hex } from 'viem'
import { channelOverpayments, type ProviderBooks, type RenterBooks } from './audit.js'
import { decodePartBooks } from './part-books.js'
import type { ChannelMoneyRow, InvariantResult, SwarmReport } from './report-types.js'

/** The money of a split run, put together from its parts' books: one row per channel and the invariants. */
export interface MergedAudit {
  channels: ChannelMoneyRow[]
  total: Record<'deposited' | 'authorised' | 'acknowledged' | 'settled' | 'refunded' | 'held', bigint>
  conserved: boolean
  invariants: InvariantResult[]
  wrongResultEarned: bigint
}

/**
 * Audit a split run across its parts. Each part already checked, on the chain after every part settled, what it
 * holds of each channel: the chain's events against its state (deposited = settled + refunded + held) and, where
 * the provider is its own, settled = acknowledged. What needs both ends is checked here, from both parts' books:
 * acknowledged <= authorised, settled = acknowledged against the renter's side, and no renter paid more than one
 * tick beyond the seconds it was served. A channel's chain figures come from its provider's part (it read them
 * after its own final settlement), else from its renter's.
 */
export function auditParts(parts: SwarmReport[]): MergedAudit {
  const providerOf = new Map<Hex, { books: ProviderBooks; amount: bigint; row: ChannelMoneyRow | undefined }>()
  const renterOf = new Map<Hex, { books: RenterBooks; amount: bigint; row: ChannelMoneyRow | undefined }>()
  let endMs = 0
  for (const report of parts) {
    const rows = new Map(report.money.channels.map((r) => [r.channelId.toLowerCase(), r]))
    const { providers, renters } = decodePartBooks(report.books!)
    endMs = Math.max(endMs, report.books!.auditedAt)
    for (const books of providers) {
      for (const [ch, amount] of books.acknowledged) providerOf.set(key(ch), { books, amount, row: rows.get(key(ch)) })
    }
    for (const books of renters) {
      for (const [ch, amount] of books.authorised) renterOf.set(key(ch), { books, amount, row: rows.get(key(ch)) })
    }
  }
  const total = { deposited: 0n, authorised: 0n, acknowledged: 0n, settled: 0n, refunded: 0n, held: 0n }
  const broken: string[] = []
  const overpaid: string[] = []
  let wrongResultEarned = 0n
  const ids = [...new Set([...providerOf.keys(), ...renterOf.keys()])].sort()
  const channels = ids.map((id): ChannelMoneyRow => {
    const provider = providerOf.get(id)
    const renter = renterOf.get(id)
    const chain = provider?.row ?? renter?.row
    const authorised = renter?.amount ?? 0n
    const acknowledged = provider?.amount ?? 0n
    const [deposited, settled, refunded, held] = (['deposited', 'settled', 'refunded', 'held'] as const).map((k) =>
      BigInt(chain?.[k] ?? '0'),
    ) as [bigint, bigint, bigint, bigint]
    const problems: string[] = []
    if (chain === undefined) problems.push('no part read it on the chain')
    else if (!chain.ok) problems.push('its part found its chain books broken')
    if (deposited !== settled + refunded + held) problems.push(`deposited ${deposited} != settled + refunded + held`)
    if (acknowledged > authorised) problems.push(`acknowledged ${acknowledged} > authorised ${authorised}`)
    if (provider !== undefined ? settled !== acknowledged : settled > 0n) {
      problems.push(`settled ${settled} != acknowledged ${acknowledged} after the final settlement`)
    }
    if (problems.length > 0) broken.push(`${id}: ${problems.join(', ')}`)
    if (provider?.books.wrongResults === true) wrongResultEarned += acknowledged
    overpaid.push(
      ...channelOverpayments(
        id as Hex,
        provider?.books.leases ?? [],
        renter?.books.leases ?? [],
        renter === undefined ? undefined : authorised,
        endMs,
      ),
    )
    total.deposited += deposited
    total.authorised += authorised
    total.acknowledged += acknowledged
    total.settled += settled
    total.refunded += refunded
    total.held += held
    return {
      channelId: chain?.channelId ?? id,
      renter: renter?.books.id ?? '?',
      provider: provider?.books.id ?? '?',
      authorised: authorised.toString(),
      acknowledged: acknowledged.toString(),
      settled: settled.toString(),
      refunded: refunded.toString(),
      held: held.toString(),
      deposited: deposited.toString(),
      ok: problems.length === 0,
    }
  })
  const crash = parts.map((p) => p.invariants.find((i) => i.name === 'no-honest-crash'))
  const freeJobs = parts.reduce((sum, p) => sum + p.books!.hostile.freeJobs, 0)
  const attacks = parts.reduce((sum, p) => sum + p.books!.hostile.attacks, 0)
  const conserved = broken.length === 0
  const invariants: InvariantResult[] = [
    {
      name: 'money-conserved',
      ok: conserved,
      detail: conserved
        ? `${channels.length} channels over ${parts.length} parts: deposited ${total.deposited} = settled ${total.settled} + refunded ${total.refunded} + held ${total.held}; settled = acknowledged <= authorised on each, from both ends' books`
        : broken.slice(0, 5).join('; '),
    },
    {
      name: 'no-honest-crash',
      ok: crash.every((i) => i?.ok === true),
      detail: crash.map((i, k) => `part ${k + 1}: ${i?.detail ?? 'not checked'}`).join('; '),
    },
    {
      name: 'no-free-work',
      ok: freeJobs === 0,
      detail: `${freeJobs} inference jobs served to renters without a lease (${attacks} hostile moves)`,
    },
    {
      name: 'overpay-within-one-tick',
      ok: overpaid.length === 0,
      detail:
        overpaid.length === 0
          ? 'every lease paid at most one tick past the seconds served, and no channel authorised more than its leases, across parts'
          : overpaid.slice(0, 5).join('; '),
    },
  ]
  return { channels, total, conserved, invariants, wrongResultEarned }
}

function key(channelId: string): Hex {
  return channelId.toLowerCase() as Hex
}
