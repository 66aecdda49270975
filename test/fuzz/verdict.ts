import { EXPECTATIONS, type ExpectationId } from './expectations.js'
import { KNOWN_DISAGREEMENTS, type KnownDisagreement } from './known-disagreements.js'
import { disagreements, type FuzzReport } from './runner.js'

export interface Verdict {
  /** Disagreements not in KNOWN_DISAGREEMENTS. */
  unlisted: string[]
  /** KNOWN_DISAGREEMENTS entries that did not occur (fixed: delete them). */
  stale: string[]
  /** Crashes no entry accounts for. */
  crashes: string[]
  /** Everything else that fails the run: hangs of whole cases, harness errors, honest renter failures, memory. */
  other: string[]
  /** Disagreements that are listed, with their entry. */
  tolerated: Array<{ expectation: string; outcome: string; count: number; entry: KnownDisagreement }>
}

const sameEntry = (k: KnownDisagreement, expectation: string, outcome: string): boolean =>
  k.crash === undefined && k.expectation === expectation && k.outcome === outcome

/** Judge a report against KNOWN_DISAGREEMENTS and the run's other promises (alive, bounded, honest served, memory). */
export function judge(
  report: FuzzReport,
  options: { memoryBudgetBytes: number; notRequired?: readonly string[]; known?: readonly KnownDisagreement[] },
): Verdict {
  const known = options.known ?? KNOWN_DISAGREEMENTS
  const verdict: Verdict = { unlisted: [], stale: [], crashes: [], other: [], tolerated: [] }
  const observed = disagreements(report).filter((d) => d.expectation !== 'harness')
  for (const d of observed) {
    const entry = known.find((k) => sameEntry(k, d.expectation, d.outcome))
    if (entry !== undefined) {
      verdict.tolerated.push({ expectation: d.expectation, outcome: d.outcome, count: d.count, entry })
      continue
    }
    const e = (EXPECTATIONS as Record<string, { documented: string; readme: string }>)[d.expectation]
    verdict.unlisted.push(
      `${d.expectation}: README says ${e?.documented ?? '?'}; got ${d.outcome} (${d.count}x), e.g. ${d.examples.join(' | ')}`,
    )
  }
  for (const k of known) {
    if (k.crash !== undefined) {
      if (!report.crashes.some((c) => c.stderr.includes(k.crash!))) {
        verdict.stale.push(`${k.expectation}: the crash "${k.crash}" no longer occurs (${k.finding}): delete its entry`)
      }
    } else if (!observed.some((d) => sameEntry(k, d.expectation, d.outcome))) {
      verdict.stale.push(`${k.expectation}: ${k.outcome} no longer occurs (${k.finding}): delete its entry`)
    }
  }
  for (const crash of report.crashes) {
    if (known.some((k) => k.crash !== undefined && crash.stderr.includes(k.crash))) continue
    verdict.crashes.push(
      `the daemon died after ${crash.recent.map((r) => `[${r.protocol}] ${r.input} -> ${r.outcome}`).join('; ')}: ${crash.stderr.slice(0, 400)}`,
    )
  }
  for (const h of report.hangs.filter((h) => h.level === 'case')) {
    verdict.other.push(`a ${h.protocol} case outran its own bound (${h.ms} ms): ${h.case}`)
  }
  for (const [outcome, d] of Object.entries(report.expectations['harness' as ExpectationId]?.disagreed ?? {})) {
    verdict.other.push(`harness error ${outcome} (${d.count}x), e.g. ${d.examples.join(' | ')}`)
  }
  if (report.honest.failures > 0) {
    verdict.other.push(
      `the honest renter failed ${report.honest.failures} of ${report.honest.probes} probes: ${report.honest.errors.join(' | ')}`,
    )
  }
  const growth = report.memory.afterBytes - report.memory.beforeBytes
  if (growth > options.memoryBudgetBytes) {
    verdict.other.push(
      `the daemon's RSS grew ${Math.round(growth / 2 ** 20)} MiB, over the ${Math.round(options.memoryBudgetBytes / 2 ** 20)} MiB budget`,
    )
  }
  const exercised = new Set(Object.keys(report.expectations))
  for (const id of Object.keys(EXPECTATIONS)) {
    if (!exercised.has(id) && !(options.notRequired ?? []).includes(id)) verdict.other.push(`${id} was not exercised`)
  }
  return verdict
}

/** The verdict as one message, every problem on its own line. */
export function formatVerdict(verdict: Verdict): string {
  const section = (title: string, lines: string[]) =>
    lines.length === 0 ? [] : [`${title}:`, ...lines.map((l) => `  - ${l}`)]
  return [
    ...section('Disagreements with protocols/README.md that are not in KNOWN_DISAGREEMENTS', verdict.unlisted),
    ...section('KNOWN_DISAGREEMENTS entries that no longer occur', verdict.stale),
    ...section('Daemon crashes', verdict.crashes),
    ...section('Other', verdict.other),
  ].join('\n')
}
