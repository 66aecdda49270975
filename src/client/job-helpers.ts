import type { AbortOptions } from '@libp2p/interface'
import type { HeldLease } from './lease-registry.js'

/** Small helpers of `RenterClient`'s job path, kept apart so that client.ts stays one screenful of wiring. */

/** Wait (up to the lease's grace) until the lease is paid up again; false if it ended or never was. */
export async function waitPaidUp(held: HeldLease, options: AbortOptions): Promise<boolean> {
  const deadline = performance.now() + Math.max(held.lease.quote.graceMs, 100)
  while (held.lease.active && !held.lease.paidUp && performance.now() < deadline) {
    if (options.signal?.aborted === true) return false
    await new Promise((r) => setTimeout(r, 5))
  }
  return held.lease.active && held.lease.paidUp
}

export function outputs(names: string[] | undefined): { outputNames?: string[] } {
  return names != null && names.length > 0 ? { outputNames: names } : {}
}

export function codeOf(err: unknown): { code?: string } {
  const code = (err as { code?: unknown })?.code
  return typeof code === 'string' ? { code } : {}
}
