import { appendFile, readFile, rename, stat, writeFile } from 'node:fs/promises'
import type { EarningsSample } from './console-state.js'

/** The log is rewritten with its newer half once it grows past this: a year of one line a minute is ~40 MB. */
const MAX_LOG_BYTES = 1024 * 1024

const toLine = (s: EarningsSample): string =>
  `${JSON.stringify({ t: s.t, gross: String(s.gross), settled: String(s.settled), gas: String(s.gas) })}\n`

/** The earnings samples kept in `file` (one JSON object a line), oldest first, at most `max`; none if it is absent. */
export async function readEarningsLog(file: string, max: number): Promise<EarningsSample[]> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const samples: EarningsSample[] = []
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    try {
      const v = JSON.parse(line) as Record<string, unknown>
      if (typeof v['t'] !== 'number') continue
      samples.push({
        t: v['t'],
        gross: BigInt(String(v['gross'])),
        settled: BigInt(String(v['settled'])),
        gas: BigInt(String(v['gas'])),
      })
    } catch {
      // A line cut short by a crash mid-write: the others still count.
    }
  }
  return samples.slice(-max)
}

/** Append one sample; past {@link MAX_LOG_BYTES} the file keeps only its newer half. */
export async function appendEarningsLog(file: string, sample: EarningsSample): Promise<void> {
  // Owner-only, as the token: what the machine earns is nobody else's business on a shared machine.
  await appendFile(file, toLine(sample), { mode: 0o600 })
  if ((await stat(file)).size <= MAX_LOG_BYTES) return
  const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '')
  const tmp = `${file}.tmp`
  await writeFile(tmp, `${lines.slice(Math.floor(lines.length / 2)).join('\n')}\n`, { mode: 0o600 })
  await rename(tmp, file)
}
