/**
 * A small seeded random source, so a swarm run (placement, jitter, loss, workloads) can be replayed from one number.
 * sfc32 on 32-bit integers seeded through splitmix32: only `Math.imul`, `>>>` and `|`, so the sequence is the same
 * on every Node version and platform, unlike `Math.random`.
 */
export interface Random {
  /** A float in [0, 1). Safe to pass around detached (`const r = random.next`). */
  next(): number
  /** An integer in [lo, hi], both ends included. */
  int(lo: number, hi: number): number
  /** One element of a non-empty array, uniformly. */
  pick<T>(items: readonly T[]): T
  /** One element of a non-empty array, with probability proportional to `weightOf(item)` (weights >= 0, sum > 0). */
  weighted<T>(items: readonly T[], weightOf: (item: T) => number): T
  /** A draw from the exponential distribution with this mean (inter-arrival times of a Poisson process). */
  exponential(mean: number): number
  /**
   * An independent source derived from this one's seed and a label, consuming nothing of this one: the schedule
   * gives each of its parts (placement, churn, each renter's requests) its own, so adding draws in one place moves
   * no other.
   */
  fork(label: string): Random
}

/** FNV-1a of a label, for {@link Random.fork}. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0
  return h
}

const TWO_POW_32 = 4_294_967_296

/** Build a {@link Random} from a seed (any number; it is reduced to 32 bits). Equal seeds give equal sequences. */
export function createRandom(seed: number): Random {
  // splitmix32 spreads a small or structured seed over sfc32's 128 bits of state.
  let mix = seed >>> 0
  const splitmix = (): number => {
    mix = (mix + 0x9e3779b9) | 0
    let z = mix
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
  let a = splitmix()
  let b = splitmix()
  let c = splitmix()
  let d = splitmix()

  const nextUint32 = (): number => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return t >>> 0
  }
  // Warm up: sfc32's first outputs are still close to the seed's structure.
  for (let i = 0; i < 12; i++) nextUint32()

  const next = (): number => nextUint32() / TWO_POW_32

  return {
    next,
    int(lo, hi) {
      if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo) {
        throw new RangeError(`int(${lo}, ${hi}): need integers with lo <= hi`)
      }
      return lo + Math.floor(next() * (hi - lo + 1))
    },
    pick(items) {
      if (items.length === 0) throw new RangeError('pick: empty array')
      return items[Math.floor(next() * items.length)] as (typeof items)[number]
    },
    weighted(items, weightOf) {
      let total = 0
      for (const item of items) {
        const weight = weightOf(item)
        if (!(weight >= 0) || !Number.isFinite(weight)) throw new RangeError(`weighted: bad weight ${weight}`)
        total += weight
      }
      if (items.length === 0 || total <= 0) throw new RangeError('weighted: no item has a positive weight')
      let point = next() * total
      for (const item of items) {
        const weight = weightOf(item)
        if (point < weight) return item
        point -= weight
      }
      // Rounding left the point past the last weight: the last item with any weight takes it.
      for (let i = items.length - 1; i >= 0; i--) {
        const item = items[i] as (typeof items)[number]
        if (weightOf(item) > 0) return item
      }
      throw new RangeError('weighted: no item has a positive weight')
    },
    exponential(mean) {
      if (!(mean >= 0)) throw new RangeError(`exponential: bad mean ${mean}`)
      // 1 - next() is in (0, 1], so the log is finite.
      return -mean * Math.log(1 - next())
    },
    fork(label) {
      return createRandom(Math.imul((seed >>> 0) ^ hashLabel(label), 0x9e3779b1) >>> 0)
    },
  }
}
