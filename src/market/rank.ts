/**
 * How discovery ranks offers. Lower score is better:
 *
 *   score = (price_per_second + 1) * (1 + rtt_ms / rttWeightMs)
 *
 * With the default `rttWeightMs` of 50, a provider 50 ms away must be half the price of one next door to rank
 * level with it: for interactive inference, nearness is worth money. The `+ 1` keeps free offers ordered by
 * round-trip time. Ties go to the lower RTT, then the lower peer id, so the order is total and stable.
 */
export const DEFAULT_RTT_WEIGHT_MS = 50

export interface Rankable {
  peerId: { toString(): string }
  pricePerSecond: bigint
  rttMs: number
}

export function scoreOffer(price: bigint, rttMs: number, rttWeightMs: number = DEFAULT_RTT_WEIGHT_MS): number {
  return (Number(price) + 1) * (1 + Math.max(0, rttMs) / rttWeightMs)
}

export function compareRanked(a: Rankable & { score: number }, b: Rankable & { score: number }): number {
  if (a.score !== b.score) return a.score - b.score
  if (a.rttMs !== b.rttMs) return a.rttMs - b.rttMs
  const pa = a.peerId.toString()
  const pb = b.peerId.toString()
  return pa < pb ? -1 : pa > pb ? 1 : 0
}
