import type { FuzzCase } from './case.js'
import { controlCases, controlCoverage, controlExclusiveCases, controlSlowCases } from './cases/control.js'
import { inferCases, inferCoverage, inferExclusiveCases, inferHugePrefixCase, inferSlowCases } from './cases/infer.js'
import { kadCases, kadSlowCases } from './cases/kad.js'
import { leaseCases, leaseCoverage, leaseExclusiveCases, leaseSlowCases } from './cases/lease.js'
import { modelCases, modelCoverage, modelExclusiveCases, modelSlowCases } from './cases/model.js'
import { offerCases, offerExclusiveCases, offerSlowCases } from './cases/offer.js'
import type { Protocol } from './expectations.js'
import type { RunPlan } from './runner.js'

type PerProtocol = Record<Protocol, number>

export interface PlanOptions {
  /** Every generator's seed is derived from this one. */
  seed: number
  fast: PerProtocol
  slow: PerProtocol
  maxMs: number
  perProtocolMs?: number
  honestEvery: number
  honestDeadlineMs: number
  rssEvery: number
  onProgress?(line: string): void
}

const FAST: Record<Protocol, (seed: number, count: number) => FuzzCase[]> = {
  offer: offerCases,
  kad: kadCases,
  lease: leaseCases,
  infer: inferCases,
  model: modelCases,
  control: controlCases,
}

/** One case per documented rule, run first: every expectation is exercised whatever the samples hold. */
const COVERAGE: Partial<Record<Protocol, () => FuzzCase[]>> = {
  lease: leaseCoverage,
  infer: inferCoverage,
  model: modelCoverage,
  control: controlCoverage,
}

const SLOW: Record<Protocol, (seed: number, count: number) => FuzzCase[]> = {
  offer: offerSlowCases,
  kad: kadSlowCases,
  lease: leaseSlowCases,
  infer: inferSlowCases,
  model: modelSlowCases,
  control: controlSlowCases,
}

/** Fixed seeds, one per protocol and timing: the same cases on every run. */
export function buildPlan(options: PlanOptions): RunPlan {
  const protocols = Object.keys(FAST) as Protocol[]
  const fast = Object.fromEntries(
    protocols.map((p, i) => [p, [...(COVERAGE[p]?.() ?? []), ...FAST[p](options.seed + i, options.fast[p])]]),
  ) as Record<Protocol, FuzzCase[]>
  const slow = [inferHugePrefixCase(), ...protocols.flatMap((p, i) => SLOW[p](options.seed + 100 + i, options.slow[p]))]
  const exclusive = [
    ...offerExclusiveCases(),
    ...leaseExclusiveCases(),
    ...inferExclusiveCases(),
    ...modelExclusiveCases(),
    ...controlExclusiveCases(),
  ]
  return {
    fast,
    slow,
    exclusive,
    maxMs: options.maxMs,
    ...(options.perProtocolMs === undefined ? {} : { perProtocolMs: options.perProtocolMs }),
    honestEvery: options.honestEvery,
    honestDeadlineMs: options.honestDeadlineMs,
    rssEvery: options.rssEvery,
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  }
}

/**
 * The short run inside `npm test`: every protocol, a few hundred cases, the slow cases whose deadlines are 10 s or
 * less (the 30 s ones, infer's first frame and model's gap between chunks, run in the benchmark only).
 */
export const SHORT_PLAN: PlanOptions = {
  seed: 20_261_201,
  fast: { offer: 40, kad: 40, lease: 30, infer: 40, model: 25, control: 60 },
  slow: { offer: 2, kad: 1, lease: 3, infer: 0, model: 0, control: 4 },
  maxMs: 45_000,
  honestEvery: 25,
  honestDeadlineMs: 10_000,
  rssEvery: 25,
}

/**
 * The expectations the short run does not reach (their deadline is 30 s, or, for the record cap, 512 records from one
 * peer): checked by `npm run bench -- fuzz`.
 */
export const LONG_RUN_ONLY = ['infer.silent', 'model.stalled', 'kad.add-provider-over-cap'] as const

/**
 * The long run, `npm run bench -- fuzz`: 10,000 fast cases per protocol (different seeds from the short run), every
 * slow case (the 30 s ones included), bounded per protocol and in all.
 */
export const LONG_PLAN: PlanOptions = {
  seed: 7_777_001,
  fast: { offer: 10_000, kad: 10_000, lease: 10_000, infer: 10_000, model: 10_000, control: 10_000 },
  slow: { offer: 4, kad: 2, lease: 6, infer: 3, model: 2, control: 8 },
  maxMs: 75 * 60_000,
  perProtocolMs: 20 * 60_000,
  honestEvery: 200,
  honestDeadlineMs: 10_000,
  rssEvery: 200,
}
