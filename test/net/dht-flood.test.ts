import assert from 'node:assert/strict'
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { createInterface, type Interface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import {
  createNode,
  dhtProviderRecordStats,
  KAD_LIMITS,
  type ParkbenchNode,
  waitForDhtPeers,
} from '../../src/net/index.js'
import { dhtKey, ProviderFlooder } from './kad-wire.js'

const HERE = dirname(fileURLToPath(import.meta.url))

/** How many ADD_PROVIDER messages the hostile peer sends, each for a key of its own, after a warm-up. */
const FLOOD = 30_000
const WARM_UP = 256

interface Stats {
  rss: number
  heapUsed: number
  providerRecords: number
  peerAddresses: number
  guard?: unknown
}

/** The DHT node under attack, in a process of its own so that its RSS is its own. */
class TargetProcess {
  readonly child: ChildProcessWithoutNullStreams
  private readonly lines: Interface
  private readonly waiting: Array<(line: unknown) => void> = []

  constructor() {
    this.child = spawn(process.execPath, ['--expose-gc', join(HERE, 'dht-node-process.js')], { stdio: 'pipe' })
    this.child.stderr.on('data', (d) => process.stderr.write(d))
    this.lines = createInterface({ input: this.child.stdout })
    this.lines.on('line', (line) => this.waiting.shift()?.(JSON.parse(line)))
  }

  next<T>(): Promise<T> {
    return new Promise((resolve) => this.waiting.push(resolve as (line: unknown) => void))
  }

  async stats(): Promise<Stats> {
    const answer = this.next<{ stats: Stats }>()
    this.child.stdin.write('stats\n')
    return (await answer).stats
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.stdin.end()
    await exited
  }
}

const mib = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10

describe('the DHT against a peer flooding ADD_PROVIDER', () => {
  let target: TargetProcess
  let targetPeer: ReturnType<typeof peerIdFromString>
  let targetAddrs: string[]
  const nodes: ParkbenchNode[] = []

  before(async () => {
    target = new TargetProcess()
    const ready = await target.next<{ addrs: string[]; peerId: string }>()
    targetAddrs = ready.addrs
    targetPeer = peerIdFromString(ready.peerId)
  })

  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
    await target?.stop()
  })

  it('keeps the records within the caps and the memory bounded, and an honest lookup still answers', async () => {
    const hostile = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], dhtServer: false })
    nodes.push(hostile)

    const flooder = new ProviderFlooder(
      hostile,
      targetAddrs.map((a) => multiaddr(a)),
    )
    const keys = function* (from: number, count: number): Generator<Uint8Array> {
      for (let i = from; i < from + count; i++) yield dhtKey(`flood ${i}`)
    }
    /** Let the target work through what it was sent: the count stops moving. */
    const settled = async (): Promise<Stats> => {
      let last = await target.stats()
      for (let round = 0; round < 40; round++) {
        await new Promise((r) => setTimeout(r, 250))
        const now = await target.stats()
        if (now.providerRecords === last.providerRecords) return now
        last = now
      }
      return last
    }

    // A few records first, so that the baseline includes a warmed-up connection and kad's code paths.
    await flooder.send(keys(0, WARM_UP))
    const baseline = await settled()
    const started = performance.now()
    // Each record claims 8 addresses never seen before: they would all go to the peer store.
    await flooder.send(keys(WARM_UP, FLOOD), (n) =>
      Array.from({ length: 8 }, (_, i) => multiaddr(`/ip4/10.${(n >> 8) & 255}.${n & 255}.${i}/tcp/4001`).bytes),
    )
    const sendMs = performance.now() - started
    await flooder.close()
    const flooded = await settled()
    const growth = flooded.rss - baseline.rss
    process.stdout.write(
      `# ${WARM_UP} then ${FLOOD} ADD_PROVIDER in ${Math.round(sendMs)} ms (${flooder.resets} streams reset): records ` +
        `${baseline.providerRecords} -> ${flooded.providerRecords}, RSS ${mib(baseline.rss)} -> ${mib(flooded.rss)} ` +
        `MiB, heap ${mib(baseline.heapUsed)} -> ${mib(flooded.heapUsed)} MiB, peer addresses ${baseline.peerAddresses} -> ${flooded.peerAddresses}, ${JSON.stringify(flooded.guard)}\n`,
    )
    assert.ok(
      flooded.providerRecords <= KAD_LIMITS.providersPerPeer,
      `${flooded.providerRecords} records from one peer, cap ${KAD_LIMITS.providersPerPeer}`,
    )
    assert.ok(flooded.peerAddresses <= KAD_LIMITS.addressesPerPeer, `${flooded.peerAddresses} addresses for one peer`)
    // Measured: 69-93 MiB more without the limits; 7-28 MiB with them, the heap's high-water mark while it works
    // through a flood (what stays is 2 MiB of heap).
    assert.ok(growth < 48 * 2 ** 20, `RSS grew ${mib(growth)} MiB`)

    // An honest provider and seeker, both through the flooded node.
    const provider = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: targetAddrs })
    const seeker = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: targetAddrs })
    nodes.push(provider, seeker)
    const signal = AbortSignal.timeout(15_000)
    await Promise.all([waitForDhtPeers(provider, 1, { signal }), waitForDhtPeers(seeker, 1, { signal })])
    const cid = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode('honest key after a flood')))
    await provider.contentRouting.provide(cid, { signal })
    const askedAt = performance.now()
    let found = false
    for await (const p of seeker.contentRouting.findProviders(cid, { signal })) {
      if (p.id.equals(provider.peerId)) {
        found = true
        break
      }
    }
    process.stdout.write(
      `# honest findProviders through the flooded node: ${Math.round(performance.now() - askedAt)} ms\n`,
    )
    assert.ok(found, 'the honest provider was found')
    assert.ok(!targetPeer.equals(provider.peerId))
  })

  it('caps providers per key and in all; a full store evicts from the largest holder, never from a small one', async () => {
    // Small caps, so that a handful of peers reach them.
    const dht = await createNode({
      listen: ['/ip4/127.0.0.1/tcp/0'],
      kad: { providersPerPeer: 8, providersPerKey: 3, providers: 10 },
    })
    nodes.push(dht)
    const peers = await Promise.all(
      Array.from({ length: 5 }, async () => createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], dhtServer: false })),
    )
    nodes.push(...peers)
    const [big, a, b, c, d] = peers as [ParkbenchNode, ParkbenchNode, ParkbenchNode, ParkbenchNode, ParkbenchNode]
    const at = dht.getMultiaddrs()
    const stats = () => dhtProviderRecordStats(dht)!
    const until = async (done: (s: ReturnType<typeof stats>) => boolean): Promise<void> => {
      const deadline = Date.now() + 5_000
      while (!done(stats()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    }
    // The records kept for a key, as the DHT answers GET_PROVIDERS from them.
    const { providers } = dht.services.dht as unknown as { providers: { getProviders(cid: CID): Promise<unknown[]> } }
    const provided = async (label: string): Promise<string[]> => {
      const cid = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(label)))
      return (await providers.getProviders(cid)).map(String).sort()
    }
    const ids = (...list: ParkbenchNode[]): string[] => list.map((p) => p.peerId.toString()).sort()

    // Four peers provide one key: the first three are kept.
    for (const [i, peer] of [a, b, c, d].entries()) {
      await new ProviderFlooder(peer, at).send([dhtKey('shared')])
      await until((s) => s.records + s.refused === i + 1)
    }
    assert.deepEqual(await provided('shared'), ids(a, b, c))
    // One peer fills the rest of the store, then sends more: it cannot push the others out to make room for itself.
    await new ProviderFlooder(big, at).send(Array.from({ length: 12 }, (_, i) => dhtKey(`big ${i}`)))
    await until((s) => s.records + s.refused === 16)
    assert.deepEqual({ records: stats().records, refused: stats().refused }, { records: 10, refused: 6 })
    assert.deepEqual(await provided('big 6'), ids(big))
    assert.deepEqual(await provided('big 7'), [])
    // The store is full: a newcomer's record evicts the big holder's oldest, and the small holders keep theirs.
    await new ProviderFlooder(d, at).send([dhtKey('d own')])
    await until((s) => s.evicted === 1)
    assert.deepEqual({ records: stats().records, evicted: stats().evicted }, { records: 10, evicted: 1 })
    assert.deepEqual(await provided('d own'), ids(d))
    assert.deepEqual(await provided('big 0'), [])
    assert.deepEqual(await provided('shared'), ids(a, b, c))
  })
})
