import { appendFile, open, rename, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { DATA_DIR_LAYOUT } from '../data-dir.js'
import { toJson } from '../json.js'

/** Ended leases, one JSON object a line, in the data dir: the provider's and the renter's, for `parkbench leases`. */
export const LEASE_LOG_FILE = DATA_DIR_LAYOUT.leaseLog

/** The log is rotated to leases.jsonl.1 past this size; `parkbench leases` reads the newest entries. */
const MAX_LOG_BYTES = 4 * 1024 * 1024
/** How much of the end of the log `readLeaseLog` reads. */
const READ_TAIL_BYTES = 512 * 1024

/** One ended lease as logged: who we were in it, and its record (LeaseInfo or RenterLeaseSummary as JSON). */
export interface LeaseLogEntry {
  role: 'provider' | 'renter'
  leaseId: string
  endedAt: number
  [field: string]: unknown
}

/** Append one ended lease to `<dataDir>/leases.jsonl` (rotating it when large). */
export async function appendLeaseLog(dataDir: string, entry: LeaseLogEntry): Promise<void> {
  const file = join(dataDir, LEASE_LOG_FILE)
  const size = await stat(file).then(
    (s) => s.size,
    () => 0,
  )
  if (size > MAX_LOG_BYTES) await rename(file, `${file}.1`)
  await appendFile(file, `${toJson(entry, 0)}\n`, { mode: 0o600 })
}

/** The newest `limit` entries of the lease log, newest first. Lines that do not parse (a torn write) are skipped. */
export async function readLeaseLog(dataDir: string, limit = 50): Promise<LeaseLogEntry[]> {
  const file = join(dataDir, LEASE_LOG_FILE)
  let text: string
  try {
    const handle = await open(file, 'r')
    try {
      const { size } = await handle.stat()
      const start = Math.max(0, size - READ_TAIL_BYTES)
      const buffer = Buffer.alloc(size - start)
      await handle.read(buffer, 0, buffer.length, start)
      text = buffer.toString('utf8')
      // A partial first line when we started mid-file.
      if (start > 0) text = text.slice(text.indexOf('\n') + 1)
    } finally {
      await handle.close()
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const entries: LeaseLogEntry[] = []
  for (const line of text.split('\n').reverse()) {
    if (entries.length >= limit) break
    if (line.trim() === '') continue
    try {
      const entry = JSON.parse(line) as LeaseLogEntry
      if (entry.role === 'provider' || entry.role === 'renter') entries.push(entry)
    } catch {
      // skipped: torn line
    }
  }
  return entries
}
