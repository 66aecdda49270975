/** Percentile of a sample by nearest rank; NaN for an empty sample. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/** Print rows as an aligned table. */
export function printTable(title: string, rows: Array<Record<string, string | number>>): void {
  if (rows.length === 0) return
  const keys = Object.keys(rows[0]!)
  const width = keys.map((k) => Math.max(k.length, ...rows.map((r) => String(r[k]).length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(width[i]!)).join('  ')
  process.stdout.write(`\n${title}\n${line(keys)}\n${line(width.map((w) => '-'.repeat(w)))}\n`)
  for (const row of rows) process.stdout.write(`${line(keys.map((k) => String(row[k])))}\n`)
}
