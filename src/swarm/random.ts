/**
 * A seeded random source (sfc32 on 32-bit integers, seeded through splitmix32): the same seed gives the same
 * sequence on every platform and Node version, which is what makes a scenario's schedule reproducible.
 */
export interface Random {
  /** A float in [0, 1). */
  next(): number
  /** An integer in [lo, hi] (both included). */
  int(lo: number, hi: number): number
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T
  /** One element, each chosen with probability proportional to its weight. */
  weighted<T>(items: readonly T[], weightOf: (item: T) => number): T
  /** A draw from an exponential distribution with this mean (the gap between Poisson arrivals). */
  exponential(mean: number): number
  /** An independent source derived from this one's seed and a label: draws from one never move another's. */
  fork(label: string): Random
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
}

function hashLabel(label: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0
  return h
}

/** A {@link Random} from a 32-bit seed. */
export function createRandom(seed: number): Random {
  const init = splitmix32(seed)
  let a = init()
  let b = init()
  let c = init()
  let d = init()
  const u32 = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0
    d = (d + 1) >>> 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) >>> 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) >>> 0
    return t
  }
  for (let i = 0; i < 12; i++) u32()
  const next = (): number => u32() / 4_294_967_296
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (items) => {
      if (items.length === 0) throw new RangeError('pick from an empty array')
      return items[Math.floor(next() * items.length)]!
    },
    weighted: (items, weightOf) => {
      const total = items.reduce((sum, item) => sum + Math.max(0, weightOf(item)), 0)
      if (!(total > 0)) throw new RangeError('no positive weight')
      let x = next() * total
      for (const item of items) {
        x -= Math.max(0, weightOf(item))
        if (x < 0) return item
      }
      return items[items.length - 1]!
    },
    exponential: (mean) => -Math.log(1 - next()) * mean,
    fork: (label) => createRandom(splitmix32((seed ^ hashLabel(label)) >>> 0)()),
  }
}
