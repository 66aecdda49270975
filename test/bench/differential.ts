import * as fc from 'fast-check'
import {
  addToStats,
  caseArbitrary,
  checkRuleTables,
  createDifferentialWorld,
  type DifferentialStats,
  emptyStats,
  formatCase,
  formatDisagreements,
  honestLeaseArbitrary,
  runCase,
  runHonestLease,
  totalDisagreements,
} from '../pay/differential.js'
import { printTable } from './stats.js'

/** Bounded in count and in time: whichever comes first. */
const SEED = 7_031_977
const ADVERSARIAL_CASES = 5_000
const ADVERSARIAL_MS = 300_000
const HONEST_CASES = 1_000
const HONEST_MS = 90_000

function table(title: string, stats: DifferentialStats): void {
  const rows: Array<Record<string, string | number>> = []
  for (const kind of ['commitment', 'tick', 'voucher'] as const) {
    rows.push({ kind, outcome: 'ACK', messages: stats.acknowledged[kind], 'of which settleable': '-' })
    const refused = Object.entries(stats.refused[kind]).sort(([, a], [, b]) => b - a)
    for (const [code, n] of refused) {
      rows.push({
        kind,
        outcome: code,
        messages: n,
        'of which settleable': stats.refusedButSettleable[kind][code] ?? 0,
      })
    }
  }
  printTable(`${title}: ${stats.cases} cases, ${stats.messages} messages, ${stats.events} chain events`, rows)
  printTable(
    `${title}: disagreements (${totalDisagreements(stats)})`,
    Object.entries(stats.disagreements).map(([type, n]) => ({ type, n })),
  )
}

function summary(stats: DifferentialStats, ms: number) {
  return {
    cases: stats.cases,
    messages: stats.messages,
    chainEvents: stats.events,
    durationMs: Math.round(ms),
    casesPerSecond: Math.round((stats.cases / ms) * 1000 * 10) / 10,
    acknowledged: stats.acknowledged,
    refused: stats.refused,
    refusedButSettleable: stats.refusedButSettleable,
    disagreements: totalDisagreements(stats),
    disagreementsByType: stats.disagreements,
    disagreementKinds: stats.disagreementKinds,
    examples: stats.examples.slice(0, 3).map((e) => ({
      case: formatCase(e.case),
      step: e.disagreement.step,
      type: e.disagreement.type,
      detail: e.disagreement.detail,
    })),
  }
}

/**
 * The differential properties of test/pay/differential.ts over many more cases than `npm test` runs: random and
 * adversarial cases, then honest leases. Reports what the receiver acknowledged and refused (per code, and how many
 * refusals the contract would have settled: stale or by policy) and every disagreement (0 expected).
 */
export async function run(): Promise<object> {
  checkRuleTables()
  const world = await createDifferentialWorld()
  try {
    const adversarial = emptyStats()
    let started = performance.now()
    for (const c of fc.sample(caseArbitrary(), { numRuns: ADVERSARIAL_CASES, seed: SEED })) {
      if (performance.now() - started > ADVERSARIAL_MS) break
      const report = await runCase(world, c)
      addToStats(adversarial, c, report)
      if (report.disagreements.length > 0) {
        process.stderr.write(`disagreement in ${formatCase(c)}\n${formatDisagreements(report)}\n`)
      }
    }
    const adversarialMs = performance.now() - started
    table('adversarial cases', adversarial)

    const honest = emptyStats()
    started = performance.now()
    for (const c of fc.sample(honestLeaseArbitrary(), { numRuns: HONEST_CASES, seed: SEED })) {
      if (performance.now() - started > HONEST_MS) break
      const report = await runHonestLease(world, c)
      addToStats(honest, c, report)
      if (report.disagreements.length > 0) {
        process.stderr.write(`disagreement in ${formatCase(c)}\n${formatDisagreements(report)}\n`)
      }
    }
    const honestMs = performance.now() - started
    table('honest leases', honest)
    return {
      seed: SEED,
      limits: {
        adversarialCases: ADVERSARIAL_CASES,
        adversarialMs: ADVERSARIAL_MS,
        honestCases: HONEST_CASES,
        honestMs: HONEST_MS,
      },
      adversarial: summary(adversarial, adversarialMs),
      honest: summary(honest, honestMs),
    }
  } finally {
    await world.stop()
  }
}
