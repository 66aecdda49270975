import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { logger } from '@libp2p/logger'
import { writeFileDurable } from '../atomic-file.js'
import { InvalidInputError } from '../errors.js'
import { addSpend, currentSpend, emptySpend, type KeyCaps, type KeySpend } from './budget.js'
import { UnauthorizedError } from './errors.js'

const log = logger('parkbench:gateway:keys')

/** The gateway's files in a data dir: key definitions (written by `gateway key ...`) and spend (by the gateway). */
export const GATEWAY_DIR = 'gateway'
export const KEYS_FILE = 'keys.json'
export const SPEND_FILE = 'spend.json'

/** How stale the running gateway's view of the key file may be (a revocation takes effect within this). */
const KEY_RECHECK_MS = 250

/** What the token of a key starts with, so a leaked one is recognisable. */
export const KEY_PREFIX = 'pbk_'

/** One API key as stored: never the key itself, only its sha256. */
export interface ApiKeyRecord {
  id: string
  name: string
  /** sha256 of the key, hex. */
  hash: string
  createdAt: number
  revokedAt?: number
  caps: KeyCaps
}

/** A key with its spend, as `gateway keys` shows it. */
export interface ApiKeyStatus extends ApiKeyRecord {
  spend: KeySpend
}

function hashKey(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

const BIGINT_FIELDS = ['maxPricePerSecond', 'maxPerHour', 'maxPerDay', 'maxTotal'] as const

function capsToJson(caps: KeyCaps): Record<string, string> {
  const out: Record<string, string> = {}
  for (const f of BIGINT_FIELDS) if (caps[f] != null) out[f] = caps[f]!.toString()
  return out
}

function capsFromJson(json: Record<string, unknown>): KeyCaps {
  const caps: Partial<KeyCaps> = {}
  for (const f of BIGINT_FIELDS) if (typeof json[f] === 'string') caps[f] = BigInt(json[f] as string)
  if (caps.maxPricePerSecond == null) throw new InvalidInputError('A stored key has no maxPricePerSecond')
  return caps as KeyCaps
}

function spendToJson(s: KeySpend) {
  return {
    total: s.total.toString(),
    hourStart: s.hourStart,
    hour: s.hour.toString(),
    dayStart: s.dayStart,
    day: s.day.toString(),
  }
}

function spendFromJson(j: Record<string, unknown>): KeySpend {
  return {
    total: BigInt(String(j.total ?? '0')),
    hourStart: Number(j.hourStart ?? 0),
    hour: BigInt(String(j.hour ?? '0')),
    dayStart: Number(j.dayStart ?? 0),
    day: BigInt(String(j.day ?? '0')),
  }
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new InvalidInputError(`${path}: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * The gateway's API keys and what each has spent, in `<dataDir>/gateway/` (mode 0600, written atomically). Keys are
 * stored as their sha256; the key itself is shown once, by {@link KeyStore.create}. The running gateway re-reads
 * the key file when it changes, so keys created or revoked from another shell take effect at once. One process at a
 * time spends against a data dir (its renter payment store is locked anyway), so spend has a single writer.
 */
export class KeyStore {
  private keys = new Map<string, ApiKeyRecord>()
  private readonly spend = new Map<string, KeySpend>()
  private keysMtime = -1
  private keysCheckedAt = 0
  private writing: Promise<void> | undefined
  private dirty = false
  private readonly dir: string
  /** Creates and revokes one at a time: each rewrites the whole key file. */
  private keyWrites: Promise<unknown> = Promise.resolve()

  private constructor(dataDir: string) {
    this.dir = join(dataDir, GATEWAY_DIR)
  }

  static async open(dataDir: string): Promise<KeyStore> {
    const store = new KeyStore(dataDir)
    await mkdir(store.dir, { recursive: true, mode: 0o700 })
    await store.reloadKeys()
    const spend = (await readJson(join(store.dir, SPEND_FILE))) as Record<string, Record<string, unknown>> | undefined
    for (const [id, s] of Object.entries(spend ?? {})) store.spend.set(id, spendFromJson(s))
    return store
  }

  /** Create a key; returns the key itself (shown once) and its record. */
  async create(name: string, caps: KeyCaps): Promise<{ token: string; record: ApiKeyRecord }> {
    return this.serialized(() => this.createNow(name, caps))
  }

  private async createNow(name: string, caps: KeyCaps): Promise<{ token: string; record: ApiKeyRecord }> {
    if (!/^[\w.-]{1,64}$/.test(name)) throw new InvalidInputError('A key name is 1-64 letters, digits, "_", "." or "-"')
    await this.reloadKeys(true)
    if ([...this.keys.values()].some((k) => k.name === name && k.revokedAt == null)) {
      throw new InvalidInputError(`A key named "${name}" exists: revoke it first or pick another name`)
    }
    const token = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`
    const record: ApiKeyRecord = {
      id: randomBytes(6).toString('hex'),
      name,
      hash: hashKey(token),
      createdAt: Date.now(),
      caps,
    }
    this.keys.set(record.hash, record)
    await this.saveKeys()
    return { token, record }
  }

  /** Revoke a key by name or id; its spend stays on record. */
  async revoke(nameOrId: string): Promise<ApiKeyRecord> {
    return this.serialized(() => this.revokeNow(nameOrId))
  }

  private serialized<T>(job: () => Promise<T>): Promise<T> {
    const next = this.keyWrites.then(job, job)
    this.keyWrites = next.catch(() => undefined)
    return next
  }

  private async revokeNow(nameOrId: string): Promise<ApiKeyRecord> {
    await this.reloadKeys(true)
    const key = [...this.keys.values()].find((k) => k.revokedAt == null && (k.name === nameOrId || k.id === nameOrId))
    if (key == null) throw new InvalidInputError(`No active key named "${nameOrId}"`)
    key.revokedAt = Date.now()
    await this.saveKeys()
    return key
  }

  /** The active key this token is, or {@link UnauthorizedError}. */
  async authenticate(token: string | undefined): Promise<ApiKeyRecord> {
    if (token == null || token === '') throw new UnauthorizedError()
    await this.reloadKeys(false, KEY_RECHECK_MS)
    let key = this.keys.get(hashKey(token))
    if (key == null) {
      // Perhaps created a moment ago from another shell.
      await this.reloadKeys()
      key = this.keys.get(hashKey(token))
    }
    if (key == null) throw new UnauthorizedError('Unknown API key')
    if (key.revokedAt != null) throw new UnauthorizedError('This API key was revoked')
    return key
  }

  /** Every key (revoked ones too) with its spend, windows rolled to now. */
  async list(): Promise<ApiKeyStatus[]> {
    await this.reloadKeys()
    return [...this.keys.values()]
      .sort((a, b) => a.createdAt - b.createdAt)
      .map((k) => ({ ...k, spend: currentSpend(this.spendOf(k.id)) }))
  }

  /** A key by its id, as last read (revoked ones too). */
  byId(keyId: string): ApiKeyRecord | undefined {
    for (const k of this.keys.values()) if (k.id === keyId) return k
    return undefined
  }

  spendOf(keyId: string): KeySpend {
    return this.spend.get(keyId) ?? emptySpend()
  }

  /** Count `amount` (wei actually paid) against a key; written to disk soon after (writes coalesce). */
  charge(keyId: string, amount: bigint): void {
    if (amount <= 0n) return
    this.spend.set(keyId, addSpend(this.spendOf(keyId), amount))
    this.dirty = true
    if (this.writing == null) this.writing = this.writeSpend()
  }

  /** Wait until every charge so far is on disk. */
  async flush(): Promise<void> {
    while (this.writing != null) await this.writing
  }

  private async writeSpend(): Promise<void> {
    try {
      while (this.dirty) {
        this.dirty = false
        const json = Object.fromEntries([...this.spend].map(([id, s]) => [id, spendToJson(s)]))
        await writeFileDurable(join(this.dir, SPEND_FILE), `${JSON.stringify(json, null, 2)}\n`)
      }
    } catch (err) {
      log.error('writing spend failed - %e', err)
    } finally {
      this.writing = undefined
    }
  }

  /**
   * Re-read the key file if it changed since it was last read (or always, with `force`); with `maxAgeMs`, only if
   * it was last checked longer ago than that.
   */
  private async reloadKeys(force = false, maxAgeMs = 0): Promise<void> {
    if (!force && maxAgeMs > 0 && Date.now() - this.keysCheckedAt < maxAgeMs) return
    this.keysCheckedAt = Date.now()
    const path = join(this.dir, KEYS_FILE)
    let mtime: number
    try {
      mtime = (await stat(path)).mtimeMs
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
    if (!force && mtime === this.keysMtime) return
    const json = (await readJson(path)) as { keys?: Array<Record<string, unknown>> } | undefined
    const keys = new Map<string, ApiKeyRecord>()
    for (const k of json?.keys ?? []) {
      const record: ApiKeyRecord = {
        id: String(k.id),
        name: String(k.name),
        hash: String(k.hash),
        createdAt: Number(k.createdAt),
        caps: capsFromJson((k.caps ?? {}) as Record<string, unknown>),
      }
      if (typeof k.revokedAt === 'number') record.revokedAt = k.revokedAt
      keys.set(record.hash, record)
    }
    this.keys = keys
    this.keysMtime = mtime
  }

  private async saveKeys(): Promise<void> {
    const keys = [...this.keys.values()].map((k) => ({ ...k, caps: capsToJson(k.caps) }))
    await writeFileDurable(join(this.dir, KEYS_FILE), `${JSON.stringify({ keys }, null, 2)}\n`)
    this.keysMtime = (await stat(join(this.dir, KEYS_FILE))).mtimeMs
  }
}
