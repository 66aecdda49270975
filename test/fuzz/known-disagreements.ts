import type { ExpectationId } from './expectations.js'

/**
 * Where the daemon disagrees with protocols/README.md today, as the short fuzz run (test/fuzz/fuzz.test.ts) sees it.
 * The run tolerates exactly these: it fails on any other disagreement, and on any entry here that no longer occurs,
 * so whoever fixes one deletes its entry in the same commit. `outcome` is what the daemon does instead (see OUTCOMES
 * in expectations.ts). An entry with `crash` is matched against the dying daemon's stderr instead of an outcome.
 */
export interface KnownDisagreement {
  expectation: ExpectationId
  outcome: string
  /** The finding it belongs to: from issue "every protocol holds against hostile peers", or found by this harness. */
  finding: string
  /** What the fix needs, in a line or two. */
  needs: string
  /** A crash: a line of the dying daemon's stderr. */
  crash?: string
}

export const KNOWN_DISAGREEMENTS: readonly KnownDisagreement[] = []
