import type { AbortOptions } from '@libp2p/interface'
import type { KadDHTComponents } from '@libp2p/kad-dht'
import { logger } from '@libp2p/logger'

const log = logger('parkbench:net:provider-records')

type Datastore = KadDHTComponents['datastore']
type Key = Parameters<Datastore['put']>[0]
type Query = Parameters<Datastore['query']>[0]
type Pair = { key: Key; value: Uint8Array }

/**
 * Where kad-dht keeps provider records: `<prefix>/<base32 multihash>/<peer id>`, value the time received. This is
 * kad-dht's default `datastorePrefix` (`/dht`) plus `/provider/`; a second DHT on the node (Amino) has its own.
 */
export const PROVIDER_KEY_PREFIX = '/dht/provider/'

/** The provider-record key prefix of a kad-dht instance with this `datastorePrefix`. */
export function providerKeyPrefix(datastorePrefix = '/dht'): string {
  return `${datastorePrefix}/provider/`
}

/** Bounds on the provider records other peers can make this node keep. */
export interface ProviderRecordLimits {
  /** Records one peer (the provider, which is always the peer that sent ADD_PROVIDER) may have stored here. */
  providersPerPeer: number
  /** Providers kept for one key; past it, new providers of that key are refused until a record expires. */
  providersPerKey: number
  /** Records of other peers kept in all. */
  providers: number
}

/** What the store holds now, for status and tests. */
export interface ProviderRecordStats {
  /** Records of other peers. */
  records: number
  /** Peers with at least one record. */
  peers: number
  /** Keys with at least one provider (this node's own included). */
  keys: number
  /** Records refused or evicted since start. */
  refused: number
  evicted: number
}

function parse(key: string, prefix: string): { cid: string; peer: string } | undefined {
  if (!key.startsWith(prefix)) return undefined
  const rest = key.slice(prefix.length)
  const slash = rest.indexOf('/')
  if (slash <= 0 || slash === rest.length - 1 || rest.indexOf('/', slash + 1) !== -1) return undefined
  return { cid: rest.slice(0, slash), peer: rest.slice(slash + 1) }
}

/** The set under `key`, created empty if there is none. */
function setIn<K>(map: Map<K, Set<string>>, key: K): Set<string> {
  let set = map.get(key)
  if (set === undefined) {
    set = new Set()
    map.set(key, set)
  }
  return set
}

/**
 * A datastore in front of kad-dht's that bounds provider records: per providing peer, per key and in all. kad-dht 16
 * stores every ADD_PROVIDER it is sent, with no limit of any kind, in whatever datastore libp2p has (in memory by
 * default), and answers GET_PROVIDERS by scanning it. Here a new record past a cap is not stored (the write resolves,
 * as kad-dht expects); when the total is full, a newcomer evicts the oldest record of the peer holding the most, so
 * a flooder loses its own records first and a peer with a few keys keeps them. Refreshing an existing record is
 * always allowed. This node's own records are never capped. GET_PROVIDERS for one key reads only that key's records
 * (an index), not the whole store. Everything else passes through unchanged. The index starts empty, as libp2p's
 * default in-memory datastore does (createNode never passes another).
 */
export class ProviderRecordStore {
  private readonly inner: Datastore
  private readonly self: string
  private readonly limits: ProviderRecordLimits
  private readonly prefix: string
  /** Every provider record by key string, with its Key object (queries hand those back). */
  private readonly keys = new Map<string, Key>()
  /** Other peers' record keys, oldest (least recently refreshed) first. */
  private readonly byPeer = new Map<string, Set<string>>()
  /** Record keys per provided key (this node's own included). */
  private readonly byCid = new Map<string, Set<string>>()
  /** Peers by how many records they hold, to find the largest holder at once. */
  private readonly peersByCount = new Map<number, Set<string>>()
  private maxCount = 0
  private others = 0
  private refused = 0
  private evicted = 0

  constructor(inner: Datastore, init: { self: string; limits: ProviderRecordLimits; prefix?: string }) {
    this.inner = inner
    this.self = init.self
    this.limits = init.limits
    this.prefix = init.prefix ?? PROVIDER_KEY_PREFIX
  }

  /** The datastore kad-dht is given: this store's methods where it bounds or indexes, the inner one's elsewhere. */
  asDatastore(): Datastore {
    const overrides: Partial<Record<keyof Datastore, unknown>> = {
      put: this.put.bind(this),
      delete: this.delete.bind(this),
      query: this.query.bind(this),
      batch: this.batch.bind(this),
      putMany: this.putMany.bind(this),
      deleteMany: this.deleteMany.bind(this),
    }
    const inner = this.inner
    return new Proxy(inner, {
      get(target, prop, receiver) {
        if (typeof prop === 'string' && prop in overrides) return overrides[prop as keyof Datastore]
        const value = Reflect.get(target, prop, receiver)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
  }

  stats(): ProviderRecordStats {
    return {
      records: this.others,
      peers: this.byPeer.size,
      keys: this.byCid.size,
      refused: this.refused,
      evicted: this.evicted,
    }
  }

  async put(key: Key, value: Uint8Array, options?: AbortOptions): Promise<Key> {
    const name = key.toString()
    const record = parse(name, this.prefix)
    if (record === undefined) return this.inner.put(key, value, options)
    if (this.keys.has(name)) {
      this.touch(name, record.peer)
      return this.inner.put(key, value, options)
    }
    // Decided and indexed synchronously: concurrent ADD_PROVIDERs never see a half-updated count.
    let evict: Key | undefined
    if (record.peer !== this.self) {
      const admitted = this.admit(record)
      if (!admitted.ok) {
        this.refused++
        log.trace('refused provider record %s', name)
        return key
      }
      evict = admitted.evict
    }
    this.add(name, key, record)
    if (evict !== undefined) await this.inner.delete(evict, options)
    return this.inner.put(key, value, options)
  }

  async delete(key: Key, options?: AbortOptions): Promise<void> {
    this.remove(key.toString())
    await this.inner.delete(key, options)
  }

  async *putMany(source: AsyncIterable<Pair> | Iterable<Pair>, options?: AbortOptions): AsyncGenerator<Key> {
    for await (const { key, value } of source) yield await this.put(key, value, options)
  }

  async *deleteMany(source: AsyncIterable<Key> | Iterable<Key>, options?: AbortOptions): AsyncGenerator<Key> {
    for await (const key of source) {
      await this.delete(key, options)
      yield key
    }
  }

  batch(): ReturnType<Datastore['batch']> {
    const ops: Array<{ key: Key; value?: Uint8Array }> = []
    return {
      put: (key, value) => void ops.push({ key, value }),
      delete: (key) => void ops.push({ key }),
      commit: async (options?: AbortOptions) => {
        for (const op of ops) {
          if (op.value === undefined) await this.delete(op.key, options)
          else await this.put(op.key, op.value, options)
        }
      },
    }
  }

  /** GET_PROVIDERS asks for `<prefix>/<cid>`: answer from the index; every other query goes to the inner store. */
  query(query: Query, options?: AbortOptions): AsyncGenerator<Pair> | Generator<Pair> {
    const prefix = query.prefix
    const onlyPrefix = query.filters == null && query.orders == null && query.limit == null && query.offset == null
    if (prefix === undefined || !onlyPrefix || !prefix.startsWith(this.prefix)) {
      return this.inner.query(query, options)
    }
    const cid = prefix.slice(this.prefix.length).replace(/\/$/, '')
    if (cid.length === 0 || cid.includes('/')) return this.inner.query(query, options)
    return this.recordsOf(cid, options)
  }

  private async *recordsOf(cid: string, options?: AbortOptions): AsyncGenerator<Pair> {
    for (const name of [...(this.byCid.get(cid) ?? [])]) {
      const key = this.keys.get(name)
      if (key === undefined) continue
      try {
        yield { key, value: await this.inner.get(key, options) }
      } catch (err) {
        // Deleted meanwhile (kad-dht's cleanup): skip it, as a scan would.
        if ((err as Error).name !== 'NotFoundError') throw err
      }
    }
  }

  /**
   * May `record` (new, another peer's) be stored? When the total is full, only by evicting the oldest record of the
   * peer holding the most (removed from the index here; the caller deletes it from the inner store).
   */
  private admit(record: { cid: string; peer: string }): { ok: boolean; evict?: Key } {
    const held = this.byPeer.get(record.peer)?.size ?? 0
    if (held >= this.limits.providersPerPeer) return { ok: false }
    if ((this.byCid.get(record.cid)?.size ?? 0) >= this.limits.providersPerKey) return { ok: false }
    if (this.others < this.limits.providers) return { ok: true }
    // Take from whoever holds the most, and only if that leaves them at least as many as the newcomer.
    if (this.maxCount <= held + 1) return { ok: false }
    const largest = this.peersByCount.get(this.maxCount)?.values().next().value
    const oldest = largest === undefined ? undefined : this.byPeer.get(largest)?.values().next().value
    const evict = oldest === undefined ? undefined : this.keys.get(oldest)
    if (oldest === undefined || evict === undefined) return { ok: false }
    this.remove(oldest)
    this.evicted++
    return { ok: true, evict }
  }

  private add(name: string, key: Key, record: { cid: string; peer: string }): void {
    this.keys.set(name, key)
    setIn(this.byCid, record.cid).add(name)
    if (record.peer === this.self) return
    const ofPeer = setIn(this.byPeer, record.peer)
    ofPeer.add(name)
    this.others++
    this.recount(record.peer, ofPeer.size - 1, ofPeer.size)
  }

  private remove(name: string): void {
    const record = parse(name, this.prefix)
    if (record === undefined || !this.keys.delete(name)) return
    const ofCid = this.byCid.get(record.cid)
    ofCid?.delete(name)
    if (ofCid?.size === 0) this.byCid.delete(record.cid)
    if (record.peer === this.self) return
    const ofPeer = this.byPeer.get(record.peer)
    if (ofPeer === undefined || !ofPeer.delete(name)) return
    this.others--
    if (ofPeer.size === 0) this.byPeer.delete(record.peer)
    this.recount(record.peer, ofPeer.size + 1, ofPeer.size)
  }

  /** A refreshed record becomes its peer's newest. */
  private touch(name: string, peer: string): void {
    const ofPeer = this.byPeer.get(peer)
    if (ofPeer === undefined) return
    ofPeer.delete(name)
    ofPeer.add(name)
  }

  private recount(peer: string, from: number, to: number): void {
    if (from > 0) {
      const was = this.peersByCount.get(from)
      was?.delete(peer)
      if (was?.size === 0) this.peersByCount.delete(from)
    }
    if (to > 0) {
      setIn(this.peersByCount, to).add(peer)
    }
    if (to > this.maxCount) this.maxCount = to
    while (this.maxCount > 0 && !this.peersByCount.has(this.maxCount)) this.maxCount--
  }
}
