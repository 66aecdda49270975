import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ReportMergeError } from '../../src/swarm/errors.js'
import type { PartBooks } from '../../src/swarm/part-books.js'
import { mergeReports } from '../../src/swarm/report-merge.js'
import type { ChannelMoneyRow, SwarmReport } from '../../src/swarm/report-types.js'
import { makeEmptyReport, makeReport } from './report-fixture.js'

const CHANNEL = `0x${'ab'.repeat(32)}`
const LEASE = `0x${'cd'.repeat(32)}`

function row(init: Partial<ChannelMoneyRow>): ChannelMoneyRow {
  const zero = { authorised: '0', acknowledged: '0', settled: '0', refunded: '0', held: '0', deposited: '0' }
  return { channelId: CHANNEL, renter: '?', provider: '?', ok: true, ...zero, ...init }
}

function books(init: Partial<PartBooks>): PartBooks {
  return {
    owned: [],
    providers: [],
    renters: [],
    crashes: [],
    samples: { timeToFirstOfferMs: [], timeToFirstPaidResultMs: [], inferLatencyMs: [] },
    hostile: { freeJobs: 0, attacks: 0 },
    auditedAt: 10_000,
    ...init,
  }
}

function part(index: number, init: Partial<SwarmReport>): SwarmReport {
  const base = makeEmptyReport()
  return {
    ...base,
    part: { index, count: 2 },
    invariants: [{ name: 'no-honest-crash', ok: true, detail: 'fine' }],
    ...init,
  }
}

/**
 * A channel between a renter on part 2 and a provider on part 1: a lease of 4 s at 100 wei/s (so at most 500 wei,
 * with the prepaid tick), `paid` authorised by the renter, 500 acknowledged by the provider and settled.
 */
function channelAcrossParts(paid: bigint): SwarmReport[] {
  const lease = { leaseId: LEASE, channelId: CHANNEL, pricePerSecond: '100', startedAt: 0, endedAt: 4_000 }
  const one = part(1, {
    money: {
      ...makeEmptyReport().money,
      channels: [row({ provider: 'p0', acknowledged: '500', settled: '500', held: '500', deposited: '1000' })],
    },
    books: books({
      owned: ['p0'],
      providers: [
        {
          id: 'p0',
          wrongResults: false,
          acknowledged: [[CHANNEL, '500']],
          leases: [{ ...lease, amountPaid: '500', ticksPaid: 5, renter: 'x', models: [], threads: 1, jobs: 1 }],
          settlementGas: '1',
          problems: [],
        },
      ],
    }),
  })
  // The renter's part read the chain before the provider settled: its figures are stale, the provider's count.
  const two = part(2, {
    money: {
      ...makeEmptyReport().money,
      channels: [row({ renter: 'r1', authorised: String(paid), held: '1000', deposited: '1000' })],
    },
    books: books({
      owned: ['r1'],
      renters: [{ id: 'r1', authorised: [[CHANNEL, String(paid)]], leases: [{ ...lease, amountPaid: String(paid) }] }],
    }),
  })
  return [two, one]
}

describe('swarm report --merge: the audit across parts', () => {
  it("puts a channel together from its provider's part and its renter's part, to the wei", () => {
    const merged = mergeReports(channelAcrossParts(500n))
    for (const inv of merged.invariants) assert.ok(inv.ok, `${inv.name}: ${inv.detail}`)
    assert.equal(merged.mergedFrom, 2)
    assert.equal(merged.part, null)
    assert.deepEqual(merged.money.channels, [
      row({
        renter: 'r1',
        provider: 'p0',
        authorised: '500',
        acknowledged: '500',
        settled: '500',
        held: '500',
        deposited: '1000',
      }),
    ])
    assert.deepEqual(merged.money.total, {
      deposited: '1000',
      authorised: '500',
      acknowledged: '500',
      settled: '500',
      refunded: '0',
      held: '500',
    })
  })

  it('breaks money-conserved when the provider acknowledged more than the renter on the other part authorised', () => {
    const merged = mergeReports(channelAcrossParts(400n))
    const money = merged.invariants.find((i) => i.name === 'money-conserved')!
    assert.equal(money.ok, false)
    assert.match(money.detail, /acknowledged 500 > authorised 400/)
    assert.equal(merged.ok, false)
  })

  it('breaks overpay-within-one-tick when a renter paid more than a tick past what the other part served', () => {
    const [two, one] = channelAcrossParts(900n)
    const merged = mergeReports([one!, two!])
    assert.equal(merged.invariants.find((i) => i.name === 'overpay-within-one-tick')!.ok, false)
    assert.equal(merged.invariants.find((i) => i.name === 'money-conserved')!.ok, true)
  })

  it('refuses reports that are not every part of one run exactly once', () => {
    const [two, one] = channelAcrossParts(500n)
    const refused = (reports: SwarmReport[], message: RegExp): void => {
      assert.throws(
        () => mergeReports(reports),
        (err: unknown) =>
          err instanceof ReportMergeError && err.code === 'REPORT_MERGE_INVALID' && message.test(err.message),
      )
    }
    refused([makeReport(), makeReport()], /not one part of a split run/)
    refused([one!, one!], /the reports are parts 1, 1/)
    refused([one!], /the reports are parts 1$/)
    refused([one!, { ...two!, seed: 1 }], /different runs/)
    const badPhases = {
      ...two!,
      books: { ...two!.books!, samples: { ...two!.books!.samples, firstPaidPhasesMs: null } },
    }
    refused([one!, badPhases as unknown as SwarmReport], /Part 2's report.json has no readable books/)
  })

  it("merges the first paid results' phases from every part's samples, and leaves them out if a part has none", () => {
    const [two, one] = channelAcrossParts(500n)
    const phases = (ms: number) => ({
      discovery: [ms],
      channel: [ms + 1],
      modelPush: [0],
      job: [ms + 2],
      other: [ms + 3],
    })
    const withPhases = (r: SwarmReport, ms: number): SwarmReport => ({
      ...r,
      books: { ...r.books!, samples: { ...r.books!.samples, firstPaidPhasesMs: phases(ms) } },
    })
    const merged = mergeReports([withPhases(two!, 100), withPhases(one!, 300)])
    const got = merged.timeToFirstPaidResultPhasesMs!
    assert.deepEqual([got.discovery.count, got.discovery.p50, got.discovery.max, got.other.max], [2, 100, 300, 303])
    // A part written before phases existed: the merged report has none rather than half of them.
    assert.equal(mergeReports([withPhases(two!, 100), one!]).timeToFirstPaidResultPhasesMs, undefined)
  })
})
