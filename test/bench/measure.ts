import { percentile, round } from './stats.js'

export interface Cell {
  requests: number
  throughputPerSec: number
  p50Ms: number
  p95Ms: number
  errors: number
}

/** Run `call` from `concurrency` loops for `durationMs` after a short warm-up. */
export async function measure(call: () => Promise<void>, concurrency: number, durationMs: number): Promise<Cell> {
  for (let i = 0; i < 3; i++) await call()
  const latencies: number[] = []
  let errors = 0
  const started = performance.now()
  const end = started + durationMs
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now()
        try {
          await call()
          latencies.push(performance.now() - t0)
        } catch {
          errors++
        }
      }
    }),
  )
  const elapsed = (performance.now() - started) / 1000
  return {
    requests: latencies.length,
    throughputPerSec: round(latencies.length / elapsed),
    p50Ms: round(percentile(latencies, 50)),
    p95Ms: round(percentile(latencies, 95)),
    errors,
  }
}
