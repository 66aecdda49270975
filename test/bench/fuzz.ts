import { prepareModels } from '../fuzz/cases/model.js'
import { EXPECTATIONS } from '../fuzz/expectations.js'
import { KNOWN_DISAGREEMENTS } from '../fuzz/known-disagreements.js'
import { buildPlan, LONG_PLAN } from '../fuzz/plan.js'
import { disagreements, PROTOCOLS, runFuzz } from '../fuzz/runner.js'
import { startFuzzWorld } from '../fuzz/world.js'
import { printTable } from './stats.js'

const MiB = 1024 * 1024

/** A crash's signature: the first line of its stderr that names an error. */
function signature(stderr: string): string {
  return (
    stderr
      .split('\n')
      .find((l) => /Error/.test(l))
      ?.trim() ??
    stderr.split('\n')[0] ??
    ''
  )
}

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const v of values) out[v] = (out[v] ?? 0) + 1
  return out
}

/**
 * The long fuzz run (test/fuzz): a `parkbench start` daemon on a dev chain, driven from this process by a client that
 * follows only protocols/README.md, 10,000 cases per protocol (bounded in count and in time), an honest lease and
 * inference from another process every 200 cases, the daemon's RSS sampled. Reports cases per protocol, crashes,
 * hangs, every disagreement with the README (known from test/fuzz/known-disagreements.ts or new) with examples,
 * memory and the honest renter's latency and failures.
 */
export async function run(): Promise<object> {
  const world = await startFuzzWorld()
  try {
    const prelude = (await prepareModels(world)).map((result) => ({ protocol: 'model' as const, result }))
    const plan = buildPlan({ ...LONG_PLAN, onProgress: (line) => process.stderr.write(`fuzz: ${line}\n`) })
    const report = await runFuzz(world, plan, prelude)
    const found = disagreements(report).map((d) => {
      const known = KNOWN_DISAGREEMENTS.find(
        (k) => k.crash === undefined && k.expectation === d.expectation && k.outcome === d.outcome,
      )
      return {
        expectation: d.expectation,
        documented: (EXPECTATIONS as Record<string, { documented: string }>)[d.expectation]?.documented ?? '(harness)',
        outcome: d.outcome,
        count: d.count,
        examples: d.examples,
        known: known !== undefined,
        ...(known === undefined ? {} : { finding: known.finding }),
      }
    })
    printTable(
      'cases per protocol',
      PROTOCOLS.map((p) => ({
        protocol: p,
        ...report.protocols[p],
        'ms/case': Math.round((report.protocols[p].ms / Math.max(1, report.protocols[p].cases)) * 10) / 10,
      })),
    )
    printTable(
      'disagreements with protocols/README.md',
      found.map((d) => ({
        expectation: d.expectation,
        outcome: d.outcome,
        count: d.count,
        known: d.known ? 'yes' : 'NEW',
      })),
    )
    const { memory, honest } = report
    printTable('daemon and honest renter', [
      {
        'rss before MiB': Math.round(memory.beforeBytes / MiB),
        'rss after MiB': Math.round(memory.afterBytes / MiB),
        'rss max MiB': Math.round(memory.maxBytes / MiB),
        crashes: report.crashes.length,
        hangs: report.hangs.length,
        'honest probes': honest.probes,
        'honest failures': honest.failures,
        'honest p50 ms': honest.latencyMs.p50,
        'honest p95 ms': honest.latencyMs.p95,
      },
    ])
    return {
      plan: {
        seed: LONG_PLAN.seed,
        fastCasesPerProtocol: LONG_PLAN.fast,
        slowCases: LONG_PLAN.slow,
        maxMs: LONG_PLAN.maxMs,
        perProtocolMs: LONG_PLAN.perProtocolMs,
        honestEvery: LONG_PLAN.honestEvery,
        honestDeadlineMs: LONG_PLAN.honestDeadlineMs,
      },
      durationMs: report.durationMs,
      casesPerProtocol: Object.fromEntries(PROTOCOLS.map((p) => [p, report.protocols[p].cases])),
      protocols: report.protocols,
      crashes: {
        count: report.crashes.length,
        bySignature: countBy(report.crashes.map((c) => signature(c.stderr))),
        known: report.crashes.filter((c) =>
          KNOWN_DISAGREEMENTS.some((k) => k.crash !== undefined && c.stderr.includes(k.crash)),
        ).length,
        examples: report.crashes.slice(0, 3),
      },
      hangs: { count: report.hangs.length, examples: report.hangs.slice(0, 10) },
      voided: report.voided,
      disagreements: {
        total: found.reduce((n, d) => n + d.count, 0),
        known: found.filter((d) => d.known).length,
        new: found.filter((d) => !d.known).length,
        list: found,
      },
      notExercised: Object.keys(EXPECTATIONS).filter((id) => !(id in report.expectations)),
      expectations: Object.fromEntries(
        Object.entries(report.expectations).map(([id, s]) => [id, { results: s!.results, agreed: s!.agreed }]),
      ),
      memory: {
        beforeBytes: memory.beforeBytes,
        afterBytes: memory.afterBytes,
        maxBytes: memory.maxBytes,
        growthBytes: memory.afterBytes - memory.beforeBytes,
        samples: memory.samples.length,
      },
      honest: report.honest,
    }
  } finally {
    await world.stop()
  }
}
