import { type AddressInfo, createServer, type Socket } from 'node:net'
import { loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createMarketProvider, discoverOffers, keyToCid, runtimeKey } from '../../src/market/index.js'
import { type AminoInit, createNode, type NodeInit, type ParkbenchNode, waitForDhtPeers } from '../../src/net/index.js'
import { startLocalSwarm } from '../../src/swarm/index.js'
import { startAminoSwarm } from '../helpers/amino-swarm.js'
import { testTerms } from '../market/terms.js'
import { percentile, printTable, round } from './stats.js'

interface LookupResult {
  dht: 'parkbench' | 'amino'
  nodes: number
  lookups: number
  /** Lookups that found the provider (record and verified offer) before the 10 s deadline. */
  found: number
  /** The provider's advertise of the runtime key: the lookup of the closest peers and the ADD_PROVIDERs. */
  provideMs: number
  /** Cold renter: from findProviders to the provider's record. */
  recordMs: { p50: number; p95: number }
  /** Cold renter: from discoverOffers to the provider's verified offer (record, dial, offer exchange, signature, ping). */
  offerMs: { p50: number; p95: number }
}

const LOOKUPS = 10
const LOOPBACK = ['/ip4/127.0.0.1/tcp/0']

/**
 * One provider and {@link LOOKUPS} cold renters (each a new node, joined only through the swarm's hub) on a swarm of
 * `size` nodes: parkbench's own DHT (every member a parkbench node) or a swarm of plain Amino nodes (stock kad-dht
 * on /ipfs/kad/1.0.0) that the provider and renters join with `amino` and no parkbench peer.
 */
async function measure(dht: 'parkbench' | 'amino', size: number): Promise<LookupResult> {
  let bootstrap: string[]
  let stopSwarm: () => Promise<void>
  if (dht === 'parkbench') {
    const swarm = await startLocalSwarm({ size }, { signal: AbortSignal.timeout(120_000) })
    bootstrap = swarm.bootstrap
    stopSwarm = async () => swarm.stop()
  } else {
    const swarm = await startAminoSwarm(size, 120_000)
    bootstrap = swarm.bootstrap
    stopSwarm = async () => swarm.stop()
  }
  // On loopback Amino needs the pass-through mapper (the public network's drops 127.0.0.1).
  const amino: AminoInit = { bootstrap, addressScope: 'all' }
  const joined = (extra: NodeInit): NodeInit => (dht === 'parkbench' ? { ...extra, bootstrap } : { ...extra, amino })
  const nodes: ParkbenchNode[] = []
  try {
    const privateKey = await generateKeyPair('Ed25519')
    const provider = await createNode(joined({ privateKey, listen: LOOPBACK }))
    nodes.push(provider)
    await waitForDhtPeers(provider, 1, { dht, signal: AbortSignal.timeout(30_000) })
    const market = createMarketProvider({ node: provider, privateKey })
    await market.start()
    await market.setTerms(testTerms(100n))
    const t0 = performance.now()
    await market.advertise({ signal: AbortSignal.timeout(30_000) })
    const provideMs = performance.now() - t0
    const cid = await keyToCid(runtimeKey('onnx/cpu'))
    const records: number[] = []
    const offers: number[] = []
    let found = 0
    for (let i = 0; i < LOOKUPS; i++) {
      // Two cold renters per round: one times the raw record lookup, the other the whole discovery.
      const a = await createNode(joined({ listen: LOOPBACK, dhtServer: false }))
      const b = await createNode(joined({ listen: LOOPBACK, dhtServer: false }))
      nodes.push(a, b)
      const joinedBoth = await Promise.all(
        [a, b].map(async (n) =>
          waitForDhtPeers(n, 1, { dht, signal: AbortSignal.timeout(30_000) }).then(
            () => true,
            () => false,
          ),
        ),
      )
      if (joinedBoth.includes(false)) {
        // A renter that never got a routing-table peer is a miss (seen once on a loaded machine), not a crash.
        await Promise.all([a.stop(), b.stop()])
        continue
      }
      let start = performance.now()
      try {
        for await (const p of a.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(10_000) })) {
          if (p.id.equals(provider.peerId)) {
            records.push(performance.now() - start)
            break
          }
        }
      } catch {
        // Not found before the deadline: it counts as a miss (the found column).
      }
      start = performance.now()
      for await (const offer of discoverOffers({ node: b }, { timeoutMs: 10_000 })) {
        if (offer.peerId.equals(provider.peerId)) {
          offers.push(performance.now() - start)
          found++
          break
        }
      }
      await Promise.all([a.stop(), b.stop()])
    }
    await market.stop()
    return {
      dht,
      nodes: size,
      lookups: LOOKUPS,
      found,
      provideMs: round(provideMs),
      recordMs: { p50: round(percentile(records, 50)), p95: round(percentile(records, 95)) },
      offerMs: { p50: round(percentile(offers, 50)), p95: round(percentile(offers, 95)) },
    }
  } finally {
    await Promise.all(nodes.map(async (n) => n.stop()))
    await stopSwarm()
  }
}

interface SpamResult {
  /** Fake provider records on the runtime key, each a distinct peer id whose address accepts TCP and never answers. */
  fakes: number
  /** The slot a fetch holds before it gives it up (discovery's `slotMs`); Infinity: held until the deadline. */
  slotMs: number
  lookups: number
  /** Lookups (5 s, discovery's default) that still yielded the honest provider's verified offer. */
  found: number
  offerMs: { p50: number; p95: number }
}

/**
 * The spam a renter meets on an open DHT: `fakes` peers (each its own key, as kad-dht stores only a sender's own
 * record) provide the runtime key with an address that accepts TCP and then stays silent, so each dial hangs in the
 * noise handshake. They provide before the honest provider does. Then cold renters look the key up.
 */
export async function measureSpam(fakes: number, slotMs = 1_000): Promise<SpamResult> {
  const swarm = await startAminoSwarm(12, 120_000)
  const sockets = new Set<Socket>()
  const blackhole = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve))
  const port = (blackhole.address() as AddressInfo).port
  const amino: AminoInit = { bootstrap: swarm.bootstrap, addressScope: 'all' }
  const nodes: ParkbenchNode[] = []
  try {
    const cid = await keyToCid(runtimeKey('onnx/cpu'))
    // A few at a time, each dialling the hub itself: on a loaded machine a burst of bootstrap dials loses some.
    for (let i = 0; i < fakes; i += 4) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(4, fakes - i) }, async () =>
          createNode({ listen: LOOPBACK, announce: [`/ip4/127.0.0.1/tcp/${port}`], dhtServer: false, amino }),
        ),
      )
      nodes.push(...batch)
      await Promise.all(
        batch.map(async (n) => {
          await n.dial(multiaddr(swarm.bootstrap[0]!), { signal: AbortSignal.timeout(30_000) }).catch(() => {})
          await waitForDhtPeers(n, 1, { dht: 'amino', signal: AbortSignal.timeout(60_000) })
          await n.contentRouting.provide(cid, { signal: AbortSignal.timeout(30_000) })
        }),
      )
    }
    const privateKey = await generateKeyPair('Ed25519')
    const provider = await createNode({ privateKey, listen: LOOPBACK, amino })
    nodes.push(provider)
    await waitForDhtPeers(provider, 1, { dht: 'amino' })
    const market = createMarketProvider({ node: provider, privateKey })
    await market.start()
    await market.setTerms(testTerms(100n))
    await market.advertise({ signal: AbortSignal.timeout(30_000) })
    const offers: number[] = []
    let found = 0
    const lookups = 5
    for (let i = 0; i < lookups; i++) {
      const renter = await createNode({ listen: LOOPBACK, dhtServer: false, amino })
      const ready = await waitForDhtPeers(renter, 1, { dht: 'amino', signal: AbortSignal.timeout(30_000) }).then(
        () => true,
        () => false,
      )
      if (!ready) {
        await renter.stop()
        continue
      }
      const start = performance.now()
      for await (const offer of discoverOffers({ node: renter }, { timeoutMs: 5_000, slotMs })) {
        if (offer.peerId.equals(provider.peerId)) {
          offers.push(performance.now() - start)
          found++
          break
        }
      }
      await renter.stop()
    }
    await market.stop()
    return {
      fakes,
      slotMs,
      lookups,
      found,
      offerMs: { p50: round(percentile(offers, 50)), p95: round(percentile(offers, 95)) },
    }
  } finally {
    await Promise.all(nodes.map(async (n) => n.stop()))
    for (const socket of sockets) socket.destroy()
    blackhole.close()
    await swarm.stop()
  }
}

/**
 * Lookup time through a local Amino-speaking swarm vs parkbench's own DHT of the same size (loopback, one process,
 * star around a hub). Loopback has no network delay: the numbers are the protocol's own cost (hops, dials, noise,
 * the offer exchange); docs/amino.md says what the public network adds.
 */
export async function run(): Promise<object> {
  const results: LookupResult[] = []
  for (const size of [12, 30]) {
    for (const dht of ['parkbench', 'amino'] as const) {
      const result = await measure(dht, size)
      process.stdout.write(`${JSON.stringify(result)}\n`)
      results.push(result)
    }
  }
  printTable(
    'provider lookup, parkbench DHT vs a local Amino swarm (ms; cold renters)',
    results.map((r) => ({
      dht: r.dht,
      nodes: r.nodes,
      found: `${r.found}/${r.lookups}`,
      provide: r.provideMs,
      'record p50': r.recordMs.p50,
      'record p95': r.recordMs.p95,
      'offer p50': r.offerMs.p50,
      'offer p95': r.offerMs.p95,
    })),
  )
  const spam: SpamResult[] = []
  const cases: Array<[number, number]> = [
    [0, 1_000],
    [16, Number.POSITIVE_INFINITY],
    [16, 1_000],
    [48, Number.POSITIVE_INFINITY],
    [48, 1_000],
  ]
  for (const [fakes, slotMs] of cases) {
    const result = await measureSpam(fakes, slotMs)
    process.stdout.write(`${JSON.stringify(result)}\n`)
    spam.push(result)
  }
  printTable(
    'honest provider found among silent fake records (12 Amino nodes, 5 s lookups)',
    spam.map((r) => ({
      fakes: r.fakes,
      'slot ms': r.slotMs,
      found: `${r.found}/${r.lookups}`,
      'offer p50': r.offerMs.p50,
      'offer p95': r.offerMs.p95,
    })),
  )
  // The machine is shared: its load says how much of each number is waiting for a core.
  return { lookups: results, spam, loadAverage: loadavg().map((l) => round(l)) }
}
