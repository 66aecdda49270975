import type { ExpectationId, Protocol } from './expectations.js'
import type { FuzzWorld } from './world.js'

/** One judged exchange: what was sent, which expectations it falls under, what came back. */
export interface CaseResult {
  /** Every expectation the input falls under; it agrees if the outcome is allowed by any (no order is documented). */
  expect: ExpectationId[]
  /** The input, in a line, for the report. */
  input: string
  outcome: string
  /** Milliseconds the exchange took. */
  ms?: number
}

/**
 * How a case is scheduled: `fast` in the main loop; `slow` waits out a documented deadline, so it runs in the
 * background from a node of its own; `exclusive` fills a limit (streams, transfers, connections), so it runs alone.
 */
export type CaseTiming = 'fast' | 'slow' | 'exclusive'

export interface FuzzCase {
  protocol: Protocol
  timing: CaseTiming
  /** A line describing the case. */
  label: string
  /**
   * The longest the case may take, in ms: the documented deadline it exercises plus slack. Past it the case is a
   * hang. `run` bounds each of its own waits by it; the runner enforces it as well.
   */
  boundMs: number
  run(world: FuzzWorld): Promise<CaseResult[]>
  /**
   * A slow case that waits 30 s: run after the fast loop, when no fast case can kill the daemon under it (a daemon
   * that dies voids the cases in flight).
   */
  quiet?: boolean
}

/** A case whose outcome could not be judged (the fuzz client's own lease had lapsed): not counted. */
export const VOID = 'void'

/** Slack on top of a documented deadline before a wait counts as a hang. */
export const SLACK_MS = 3_000

export function hex(bytes: Uint8Array, max = 24): string {
  const h = Buffer.from(bytes.subarray(0, max)).toString('hex')
  return bytes.byteLength > max ? `${h}..(${bytes.byteLength} B)` : h
}
