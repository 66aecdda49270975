import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { ClassicLevel } from 'classic-level'
import { PaymentStoreError } from './errors.js'

const log = logger('parkbench:pay:store')

export interface PaymentStoreInit {
  /** Directory of the LevelDB database (e.g. `<dataDir>/payments`). */
  path: string
  /**
   * fsync every batch before acknowledging it (default true). Only a benchmark should turn it off: without it a
   * power cut (not a `kill -9`) can lose acknowledged payments.
   */
  sync?: boolean
  /**
   * Group commit: while writes come more often than this (many leases ticking), start a batch at most once per this
   * many ms, so that one fsync carries every write that arrived in the window (default {@link COMMIT_WINDOW_MS}).
   * Writes that come less often are committed at once; 0 commits as soon as the previous batch is done. Every write
   * still resolves only once its batch is on disk.
   */
  commitWindowMs?: number
}

/**
 * The default group-commit window, sized by measurement here (2 cores, LevelDB with fsync, two 150-byte records per
 * tick, ticks spread evenly; CPU per tick on all threads). At 2,000 ticks a second: 81 us with no window, 70 with
 * 2 ms, 58 with 5, 51 with 10, 48 with 20, while the acknowledgement's median wait grows by about half the window
 * (0.3, 2.8, 4.2, 7.4, 14.9 ms). At 500/s 10 ms saves 33 us a tick over 5 ms; at 5,000/s both are ~39 us. 10 ms is
 * well inside the 40-100 ms by which a renter's tick leads the paid boundary. (fsync itself stalls now and then on
 * this machine: p99 60-190 ms whatever the window.)
 */
export const COMMIT_WINDOW_MS = 10

/** Gaps between writes count up to this in the store's moving average (a quiet store is simply quiet). */
const QUIET_GAP_MS = 1_000

export type StoreOperation = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string }

// JSON with bigints: a bigint is written as "<digits>n". Hex strings start with 0x and never match.
const BIGINT = /^\d+n$/

export function encodeRecord(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))
}

export function decodeRecord<T>(text: string): T {
  return JSON.parse(text, (_k, v) => (typeof v === 'string' && BIGINT.test(v) ? BigInt(v.slice(0, -1)) : v)) as T
}

interface PendingBatch {
  ops: Map<string, StoreOperation>
  done: Promise<void>
  resolve: () => void
  reject: (err: Error) => void
}

/**
 * The durable payment store: a LevelDB database (classic-level) holding the provider's best proof per channel, its
 * leases' progress and pending settlements, and the renter's payment records.
 *
 * Writes are group-committed: every write joins the open batch, one batch is written (and fsynced) at a time, at
 * most one per `commitWindowMs` under load, and a write's promise resolves only after its batch is on disk. With
 * thousands of leases ticking once a second, that is one fsync per window rather than one per tick, and nothing is
 * acknowledged before it is durable.
 */
export class PaymentStore {
  private readonly db: ClassicLevel<string, string>
  private readonly sync: boolean
  private pending: PendingBatch | undefined
  private flushing: Promise<void> | undefined
  private failed: Error | undefined
  private closed = false
  private readonly commitWindowMs: number
  /** When the last batch started (performance.now()), for the group-commit window. */
  private lastFlushAt = Number.NEGATIVE_INFINITY
  private flushScheduled = false
  /** When the last write came, and the mean gap between writes (ms, moving average): is anyone else coming? */
  private lastWriteAt = Number.NEGATIVE_INFINITY
  private meanWriteGapMs = QUIET_GAP_MS
  /** Batches written so far (a benchmark reads it). */
  batches = 0

  constructor(init: PaymentStoreInit) {
    this.db = new ClassicLevel<string, string>(init.path, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    this.sync = init.sync ?? true
    this.commitWindowMs = init.commitWindowMs ?? COMMIT_WINDOW_MS
  }

  get location(): string {
    return this.db.location
  }

  async start(): Promise<void> {
    try {
      await this.db.open({ createIfMissing: true })
    } catch (err) {
      throw new PaymentStoreError(
        `Cannot open the payment store at ${this.db.location} (is another process using it?)`,
        {
          cause: err,
        },
      )
    }
  }

  async stop(): Promise<void> {
    if (this.closed) return
    await this.drain()
    this.closed = true
    await this.db.close()
  }

  /** Wait until every write issued so far is durable. */
  async drain(): Promise<void> {
    while (this.pending != null || this.flushing != null) {
      await (this.pending?.done ?? this.flushing)?.catch(() => {})
    }
  }

  async get<T>(key: string): Promise<T | undefined> {
    this.check()
    const text = await this.db.get(key)
    return text === undefined ? undefined : decodeRecord<T>(text)
  }

  /** Every record whose key starts with `prefix`, in key order. */
  async list<T>(prefix: string): Promise<Array<[string, T]>> {
    this.check()
    const out: Array<[string, T]> = []
    for await (const [key, value] of this.db.iterator({ gte: prefix, lt: `${prefix}\xff` })) {
      out.push([key, decodeRecord<T>(value)])
    }
    return out
  }

  put(key: string, value: unknown, options: AbortOptions = {}): Promise<void> {
    return this.write([{ type: 'put', key, value }], options)
  }

  del(key: string, options: AbortOptions = {}): Promise<void> {
    return this.write([{ type: 'del', key }], options)
  }

  /**
   * Write operations atomically with the next batch. Resolves once they are durable. The signal only stops the
   * caller from waiting: the write itself is not withdrawn (money state is never half-written).
   */
  write(ops: StoreOperation[], options: AbortOptions = {}): Promise<void> {
    this.check()
    options.signal?.throwIfAborted()
    const now = performance.now()
    this.meanWriteGapMs += (Math.min(now - this.lastWriteAt, QUIET_GAP_MS) - this.meanWriteGapMs) / 4
    this.lastWriteAt = now
    if (this.pending == null) {
      let resolve!: () => void
      let reject!: (err: Error) => void
      const done = new Promise<void>((res, rej) => {
        resolve = res
        reject = rej
      })
      this.pending = { ops: new Map(), done, resolve, reject }
      if (this.flushing == null) this.scheduleFlush()
    }
    // Later writes to the same key replace earlier ones in the batch: a lease ticking twice in one batch is one put.
    for (const op of ops) {
      this.pending.ops.delete(op.key)
      this.pending.ops.set(op.key, op)
    }
    return this.pending.done
  }

  private check(): void {
    if (this.closed) throw new PaymentStoreError('The payment store is closed')
    if (this.failed != null) throw new PaymentStoreError('The payment store failed a write', { cause: this.failed })
  }

  /**
   * Flush the open batch now (next turn of the loop) or, when writes come more often than the window (so another is
   * expected within it) and the last batch started less than a window ago, when that window ends. A lone writer
   * (one lease: its commitment, then a tick a second) never waits.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    const busy = this.meanWriteGapMs < this.commitWindowMs
    const wait = busy ? this.lastFlushAt + this.commitWindowMs - performance.now() : 0
    const run = (): void => {
      this.flushScheduled = false
      this.flush()
    }
    if (wait > 0) setTimeout(run, wait)
    else setImmediate(run)
  }

  private flush(): void {
    const batch = this.pending
    if (batch == null) return
    this.pending = undefined
    this.lastFlushAt = performance.now()
    const ops = [...batch.ops.values()].map((op) =>
      op.type === 'put' ? { type: 'put' as const, key: op.key, value: encodeRecord(op.value) } : op,
    )
    this.flushing = this.db.batch(ops, { sync: this.sync }).then(
      () => {
        this.batches++
        batch.resolve()
      },
      (err: Error) => {
        log.error('payment store write failed: %e', err)
        this.failed = err
        batch.reject(new PaymentStoreError('Payment store write failed', { cause: err }))
      },
    )
    void this.flushing.finally(() => {
      this.flushing = undefined
      // Writes that arrived during this batch form the next one.
      if (this.pending != null) this.scheduleFlush()
    })
  }
}

/**
 * Open the payment store.
 *
 * @example
 * const store = await createPaymentStore({ path: join(dataDir, 'payments') })
 */
export async function createPaymentStore(init: PaymentStoreInit): Promise<PaymentStore> {
  const store = new PaymentStore(init)
  await store.start()
  return store
}
