import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { ClientProgressEvent, RenterClient } from '../../src/client/index.js'
import { createDaemonMetrics } from '../../src/daemon/metrics.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { REPO_ROOT } from '../helpers/cli.js'
import {
  type ConsoleDaemon,
  consoleFetch,
  inputs,
  MODEL,
  PRICE,
  startConsoleDaemon,
  startRenterClient,
  waitFor,
} from './console-fixture.js'

interface ParsedSample {
  value?: string
  labels?: Record<string, string>
  buckets?: Record<string, string>
  count?: string
  sum?: string
}
interface ParsedFamily {
  name: string
  help: string
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED'
  metrics: ParsedSample[]
}
// A CommonJS package without types: the Prometheus text-format parser Prometheus's own JS tooling uses.
const parsePrometheusTextFormat = createRequire(import.meta.url)('parse-prometheus-text-format') as (
  text: string,
) => ParsedFamily[]

const JOBS = 5

describe('/metrics in Prometheus text format', () => {
  let chain: DevChain
  let provider: ConsoleDaemon
  let renter: RenterClient
  let crowded: RenterClient
  const crowdedEvents: ClientProgressEvent[] = []

  before(async () => {
    chain = await startDevChain()
    // One thread: a second renter is refused BUSY while the first holds a lease.
    provider = await startConsoleDaemon(chain, { threads: 1 })
    renter = await startRenterClient(chain, 1)
    crowded = await startRenterClient(chain, 3, (e) => crowdedEvents.push(e))
  })

  after(async () => {
    await crowded?.close()
    await renter?.close()
    await provider?.daemon.stop()
    await chain?.stop()
  })

  it('counts what the daemon did: leases by end reason, ticks, amounts, jobs by model, BUSY refusals, settlements', async () => {
    const { daemon, url, token, address, modelSha256 } = provider
    const lease = await renter.lease({ model: MODEL, maxPricePerSecond: PRICE, provider: address })
    for (let i = 0; i < JOBS; i++) await lease.infer({ inputs: inputs() })
    await assert.rejects(crowded.lease({ model: MODEL, maxPricePerSecond: PRICE, provider: address }))
    const busyRefusals = crowdedEvents.filter((e) => e.type === 'lease:failed').length
    assert.ok(busyRefusals >= 1)
    await waitFor(() => (daemon.leaseList()[0]?.ticksPaid ?? 0) >= 2, 'two paid ticks')
    assert.equal((await lease.end()).endReason, 'RENTER_ENDED')

    const second = await renter.lease({ model: MODEL, maxPricePerSecond: PRICE, provider: address })
    await second.infer({ inputs: inputs() })
    await daemon.pause()
    assert.equal((await second.ended).endReason, 'PROVIDER_PAUSED')
    const settle = await consoleFetch(url, '/api/v1/settle', { token, method: 'POST', body: { force: true } })
    assert.equal(settle.status, 200)
    assert.equal(settle.json.settled.length, 1)

    assert.equal((await consoleFetch(url, '/metrics')).status, 401)
    assert.equal((await consoleFetch(url, '/metrics', { token: 'x'.repeat(43) })).status, 401)
    const scraped = await consoleFetch(url, '/metrics', { token })
    assert.equal(scraped.status, 200)
    assert.match(scraped.contentType ?? '', /^text\/plain; version=0\.0\.4/)
    const families = new Map(parsePrometheusTextFormat(scraped.text).map((f) => [f.name, f]))
    const family = (name: string, type: ParsedFamily['type']): ParsedFamily => {
      const f = families.get(name)
      assert.ok(f !== undefined, `${name} is exposed`)
      assert.equal(f.type, type, `${name} is a ${type}`)
      assert.ok(f.help.length > 0, `${name} has help`)
      return f
    }
    const value = (name: string, type: ParsedFamily['type'], labels: Record<string, string> = {}): number => {
      const sample = family(name, type).metrics.find((m) =>
        Object.entries(labels).every(([k, v]) => m.labels?.[k] === v),
      )
      assert.ok(sample !== undefined, `${name}${JSON.stringify(labels)} has a sample`)
      return Number(sample.value)
    }

    const leases = daemon.leaseList()
    assert.equal(leases.length, 2)
    const ticks = leases.reduce((sum, l) => sum + l.ticksPaid, 0)
    const acknowledged = leases.reduce((sum, l) => sum + l.amountPaid, 0n)
    const earnings = await daemon.earnings()
    const settledWei = earnings.tokens[0]!.settled
    const gasWei = earnings.tokens[0]!.gasSpent

    assert.equal(value('parkbench_leases_started_total', 'COUNTER'), 2)
    assert.equal(value('parkbench_leases_ended_total', 'COUNTER', { reason: 'RENTER_ENDED' }), 1)
    assert.equal(value('parkbench_leases_ended_total', 'COUNTER', { reason: 'PROVIDER_PAUSED' }), 1)
    assert.equal(value('parkbench_leases_active', 'GAUGE'), 0)
    assert.equal(value('parkbench_selling', 'GAUGE'), 0)
    assert.equal(value('parkbench_ticks_accepted_total', 'COUNTER'), ticks)
    assert.equal(value('parkbench_payments_acknowledged_total', 'COUNTER'), Number(acknowledged))
    assert.equal(acknowledged, PRICE * BigInt(ticks))
    assert.equal(value('parkbench_payments_settled_total', 'COUNTER'), Number(settledWei))
    // The settler may leave the last ticks above the renter's last voucher unsettled (worth less than their gas).
    assert.equal(settledWei + earnings.unsettled, acknowledged, 'settled + unsettled = acknowledged')
    assert.ok(settledWei > 0n)
    assert.equal(value('parkbench_settlement_gas_wei_total', 'COUNTER'), Number(gasWei))
    assert.ok(gasWei > 0n)
    assert.equal(value('parkbench_settlements_total', 'COUNTER'), 1)
    assert.equal(value('parkbench_payments_unsettled', 'GAUGE'), Number(earnings.unsettled))
    assert.equal(value('parkbench_jobs_total', 'COUNTER', { model: modelSha256, status: 'OK' }), JOBS + 1)
    // The parser folds a histogram's series into one and drops their labels (it handles unlabelled histograms only):
    // it checks the type; the per-model series are read from their exposition lines.
    family('parkbench_job_run_seconds', 'HISTOGRAM')
    family('parkbench_job_queue_seconds', 'HISTOGRAM')
    const series = (line: string): number => {
      const found = scraped.text.split('\n').find((l) => l.startsWith(`${line} `))
      assert.ok(found !== undefined, `${line} is exposed`)
      return Number(found.slice(line.length + 1))
    }
    assert.equal(series(`parkbench_job_run_seconds_count{model="${modelSha256}"}`), JOBS + 1)
    assert.equal(series(`parkbench_job_run_seconds_bucket{le="+Inf",model="${modelSha256}"}`), JOBS + 1)
    assert.equal(series(`parkbench_job_queue_seconds_count{model="${modelSha256}"}`), JOBS + 1)
    assert.ok(series(`parkbench_job_run_seconds_sum{model="${modelSha256}"}`) > 0)
    assert.equal(value('parkbench_refusals_total', 'COUNTER', { protocol: 'lease', status: 'BUSY' }), busyRefusals)
    assert.equal(value('parkbench_busy_refusals_total', 'COUNTER'), busyRefusals)
    // Each lease attempt fetched the offer first: three from the renters while selling, none refused.
    assert.ok(value('parkbench_offer_requests_total', 'COUNTER', { status: 'OK' }) >= 3)
    assert.equal(value('parkbench_worker_queue_depth', 'GAUGE'), 0)
    assert.equal(value('parkbench_workers_busy', 'GAUGE'), 0)

    // libp2p's own metrics share the registry: connections, streams, the DHT (what answers lookups).
    const libp2p = [...families.keys()].filter((name) => name.startsWith('libp2p_'))
    assert.ok(libp2p.length >= 5, `libp2p metrics: ${libp2p.join(', ')}`)
    assert.ok(
      libp2p.some((name) => name.startsWith('libp2p_kad_dht_')),
      'the DHT reports its operations',
    )
  })

  it('docs/console.md lists every parkbench metric with its type, and no other', async () => {
    const doc = await readFile(join(REPO_ROOT, 'docs', 'console.md'), 'utf8')
    const documented = new Map(
      [...doc.matchAll(/^\| `(parkbench_[a-z_]+)` \| (counter|gauge|histogram) \|/gm)].map((m) => [m[1]!, m[2]!]),
    )
    const metrics = createDaemonMetrics({ pool: () => undefined, earnings: () => undefined, selling: () => false })
    const registered = new Map(
      (await metrics.registry.getMetricsAsJSON()).map((m) => [m.name, String(m.type)] as [string, string]),
    )
    assert.deepEqual(
      [...documented].sort(([a], [b]) => a.localeCompare(b)),
      [...registered].sort(([a], [b]) => a.localeCompare(b)),
    )
  })
})
