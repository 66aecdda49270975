import { performance } from 'node:perf_hooks'
import { createMarketProvider, discoverOffers, type MarketProvider } from '../../src/market/index.js'
import { startLocalSwarm } from '../../src/swarm/index.js'
import { testTerms } from '../market/terms.js'
import { percentile, printTable, round } from './stats.js'

interface SwarmResult {
  nodes: number
  providers: number
  lookups: number
  firstOfferMs: { p50: number; p95: number }
  allOffersMs: { p50: number; p95: number }
  /** Lookups that found every provider before the 10 s deadline. */
  complete: number
  rssPerNodeMiB: number
  swarmStartMs: number
}

async function measureSwarm(size: number): Promise<SwarmResult> {
  const settledRss = async (): Promise<number> => {
    // Run with --expose-gc (npm run bench does) so that garbage from the last swarm does not count.
    global.gc?.()
    await new Promise((r) => setTimeout(r, 200))
    global.gc?.()
    return process.memoryUsage().rss
  }
  const rssBefore = await settledRss()
  const t0 = performance.now()
  const swarm = await startLocalSwarm({ size }, { signal: AbortSignal.timeout(120_000) })
  const swarmStartMs = performance.now() - t0
  const rssPerNodeMiB = ((await settledRss()) - rssBefore) / size / 2 ** 20
  const providerCount = Math.max(3, Math.round(size / 4))
  const providers: MarketProvider[] = []
  try {
    // Members 1..providerCount sell, at distinct prices; the rest (not the hub) look them up, each once, cold.
    for (let i = 1; i <= providerCount; i++) {
      const member = swarm.members[i]!
      const market = createMarketProvider({ node: member.node, privateKey: member.privateKey })
      await market.start()
      await market.setTerms(testTerms(BigInt(100 * i)))
      await market.advertise({ signal: AbortSignal.timeout(30_000) })
      providers.push(market)
    }
    const clients = swarm.members.slice(providerCount + 1)
    const first: number[] = []
    const all: number[] = []
    let complete = 0
    for (const client of clients.slice(0, 20)) {
      const start = performance.now()
      let count = 0
      let firstAt = Number.NaN
      for await (const _ of discoverOffers({ node: client.node }, { timeoutMs: 10_000 })) {
        count++
        if (count === 1) firstAt = performance.now() - start
        if (count === providerCount) break
      }
      if (Number.isFinite(firstAt)) first.push(firstAt)
      if (count === providerCount) {
        complete++
        all.push(performance.now() - start)
      }
    }
    return {
      nodes: size,
      providers: providerCount,
      lookups: Math.min(20, clients.length),
      firstOfferMs: { p50: round(percentile(first, 50)), p95: round(percentile(first, 95)) },
      allOffersMs: { p50: round(percentile(all, 50)), p95: round(percentile(all, 95)) },
      complete,
      rssPerNodeMiB: round(rssPerNodeMiB),
      swarmStartMs: round(swarmStartMs),
    }
  } finally {
    await Promise.all(providers.map(async (p) => p.stop()))
    await swarm.stop()
  }
}

/**
 * Market discovery in 20- and 50-node loopback swarms (one process, star around a bootstrap hub): time from the
 * start of a cold lookup (new client, no connections to providers) to its first verified offer and to every
 * provider's offer, and resident memory per node.
 */
export async function run(): Promise<object> {
  const results: SwarmResult[] = []
  for (const size of [20, 50]) results.push(await measureSwarm(size))
  printTable(
    'market discovery (ms; cold lookups from distinct clients)',
    results.map((r) => ({
      nodes: r.nodes,
      providers: r.providers,
      lookups: r.lookups,
      complete: r.complete,
      'first p50': r.firstOfferMs.p50,
      'first p95': r.firstOfferMs.p95,
      'all p50': r.allOffersMs.p50,
      'all p95': r.allOffersMs.p95,
      'MiB/node': r.rssPerNodeMiB,
    })),
  )
  return { swarms: results }
}
