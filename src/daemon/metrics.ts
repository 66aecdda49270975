import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { AdmissionPolicy, JobOutcome } from '../compute/admission.js'
import { Status as ComputeStatus } from '../compute/pb/compute.js'
import type { LeaseProviderEvent } from '../lease/lease-provider.js'
import type { LeaseInfo } from '../lease/metered-lease.js'
import type { DaemonEarnings } from './earnings.js'

/** What the daemon's metrics read at scrape time: nothing here runs on a tick. */
export interface DaemonMetricsSource {
  /** The worker pool's queue and busy workers. */
  pool(): { queued: number; busy: number; workers: number } | undefined
  /** Settled and unsettled earnings, when selling. */
  earnings(): Promise<DaemonEarnings> | undefined
  /** 1 while the offer is advertised, 0 while paused or not selling. */
  selling(): boolean
}

/** Seconds; inference on a CPU runs from well under a millisecond (tiny models) to seconds (big vision models). */
const JOB_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/**
 * parkbench's own Prometheus metrics (docs/console.md lists each), in a registry of their own that libp2p's metrics
 * (`@libp2p/prometheus-metrics`) share. Leases and jobs are counted from the daemon's events; ticks and amounts are
 * read from the running leases when scraped, so the per-second payment path does no extra work.
 */
export class DaemonMetrics {
  readonly registry = new Registry()
  /** Leases started and not yet folded into the ended totals (the same objects the lease provider updates). */
  private readonly live = new Set<LeaseInfo>()
  private endedTicks = 0
  private endedAmount = 0n
  private jobs = 0
  private readonly leasesStarted: Counter<never>
  private readonly leasesEnded: Counter<'reason'>
  private readonly refusals: Counter<'protocol' | 'status'>
  private readonly jobsTotal: Counter<'model' | 'status'>
  private readonly jobRun: Histogram<'model'>
  private readonly jobQueue: Histogram<'model'>
  private readonly offerRequests: Counter<'status'>
  /** One read of the settlement history per scrape, not one per metric that needs it. */
  private earningsRead: { at: number; value: Promise<DaemonEarnings | undefined> } | undefined

  constructor(source: DaemonMetricsSource) {
    const registers = [this.registry]
    const self = this
    new Gauge({
      name: 'parkbench_selling',
      help: '1 while the offer is advertised and leases are taken, 0 while paused or not selling',
      registers,
      collect() {
        this.set(source.selling() ? 1 : 0)
      },
    })
    new Gauge({
      name: 'parkbench_leases_active',
      help: 'Leases running now',
      registers,
      collect() {
        this.set([...self.live].filter((l) => l.state !== 'ended').length)
      },
    })
    this.leasesStarted = new Counter({ name: 'parkbench_leases_started_total', help: 'Leases started', registers })
    this.leasesEnded = new Counter({
      name: 'parkbench_leases_ended_total',
      help: 'Leases ended, by end reason (protocols/lease.proto EndReason)',
      labelNames: ['reason'],
      registers,
    })
    this.refusals = new Counter({
      name: 'parkbench_refusals_total',
      help: 'Requests refused: lease requests by LeaseStatus, inference jobs by compute Status',
      labelNames: ['protocol', 'status'],
      registers,
    })
    new Counter({
      name: 'parkbench_busy_refusals_total',
      help: 'Lease requests and jobs refused BUSY (no free threads, queue full, too many at once, or paused)',
      registers,
      async collect() {
        const values = (await self.refusals.get()).values
        this.reset()
        this.inc(values.filter((v) => v.labels.status === 'BUSY').reduce((sum, v) => sum + v.value, 0))
      },
    })
    new Counter({
      name: 'parkbench_ticks_accepted_total',
      help: 'Payment ticks accepted (durably stored and acknowledged), all leases',
      registers,
      collect() {
        this.reset()
        this.inc(self.totals().ticks)
      },
    })
    new Counter({
      name: 'parkbench_payments_acknowledged_total',
      help: "Amount acknowledged to renters in leases, in the token's base units (wei for the native coin)",
      registers,
      collect() {
        this.reset()
        this.inc(Number(self.totals().amount))
      },
    })
    const earningsCounter = (name: string, help: string, pick: (e: DaemonEarnings) => bigint) =>
      new Counter({
        name,
        help,
        registers,
        async collect() {
          const earnings = await self.earnings(source)
          this.reset()
          if (earnings !== undefined) this.inc(Number(pick(earnings)))
        },
      })
    earningsCounter('parkbench_payments_settled_total', 'Paid to this node by on-chain settlements, base units', (e) =>
      e.tokens.reduce((sum, t) => sum + t.settled, 0n),
    )
    earningsCounter('parkbench_settlement_gas_wei_total', 'Gas spent on settlement transactions, in wei', (e) =>
      e.tokens.reduce((sum, t) => sum + t.gasSpent, 0n),
    )
    earningsCounter('parkbench_settlements_total', 'Settlement transactions mined (reverted ones included)', (e) =>
      BigInt(e.tokens.reduce((sum, t) => sum + t.settlements, 0)),
    )
    new Gauge({
      name: 'parkbench_payments_unsettled',
      help: 'Accepted off-chain and not yet settled, over all channels, base units',
      registers,
      async collect() {
        const earnings = await self.earnings(source)
        this.set(earnings === undefined ? 0 : Number(earnings.unsettled))
      },
    })
    this.jobsTotal = new Counter({
      name: 'parkbench_jobs_total',
      help: 'Inference jobs admitted inside a lease, by model (sha256) and outcome (compute Status)',
      labelNames: ['model', 'status'],
      registers,
    })
    this.jobRun = new Histogram({
      name: 'parkbench_job_run_seconds',
      help: 'Time a job spent in session.run(), by model',
      labelNames: ['model'],
      buckets: JOB_BUCKETS,
      registers,
    })
    this.jobQueue = new Histogram({
      name: 'parkbench_job_queue_seconds',
      help: 'Time a job waited for a worker, by model',
      labelNames: ['model'],
      buckets: JOB_BUCKETS,
      registers,
    })
    this.offerRequests = new Counter({
      name: 'parkbench_offer_requests_total',
      help: 'Offer requests answered (renters that found this node, on the DHT or by address), by answer',
      labelNames: ['status'],
      registers,
    })
    new Gauge({
      name: 'parkbench_worker_queue_depth',
      help: 'Jobs waiting for a worker',
      registers,
      collect() {
        this.set(source.pool()?.queued ?? 0)
      },
    })
    new Gauge({
      name: 'parkbench_workers_busy',
      help: 'Worker processes running a job',
      registers,
      collect() {
        this.set(source.pool()?.busy ?? 0)
      },
    })
  }

  /** The lease provider's events: a lease started (counted, its ticks read from it from now on), a refusal. */
  readonly onLeaseEvent = (event: LeaseProviderEvent): void => {
    if (event.type === 'lease:started') {
      this.leasesStarted.inc()
      this.live.add(event.lease)
    } else this.refusals.inc({ protocol: 'lease', status: String(event.status) })
  }

  /** The offer protocol answered a request (OK, or NO_OFFER while paused). */
  readonly onOfferRequest = (status: string): void => {
    this.offerRequests.inc({ status })
  }

  /** Wrap an admission policy so each inference job it admits is counted and timed when it ends. */
  countJobs(admit: AdmissionPolicy): AdmissionPolicy {
    return async (request, options) => {
      const decision = await admit(request, options)
      if (!decision.allowed || request.kind !== 'infer') return decision
      const { onJobDone } = decision
      return {
        allowed: true,
        onJobDone: (outcome) => {
          this.jobDone(request.modelSha256, outcome)
          onJobDone?.(outcome)
        },
      }
    }
  }

  /** A lease ended (the renter was told): counted by reason, and its ticks folded into the totals. */
  leaseEnded(lease: LeaseInfo): void {
    this.leasesEnded.inc({ reason: lease.endReason ?? 'END_REASON_UNSPECIFIED' })
    this.fold(lease)
  }

  /** A job admitted inside a lease ended, whatever its outcome. */
  jobDone(modelSha256: string, outcome: JobOutcome): void {
    this.jobs++
    const status = String(outcome.status)
    this.jobsTotal.inc({ model: modelSha256, status })
    if (outcome.status === ComputeStatus.BUSY) this.refusals.inc({ protocol: 'infer', status })
    if (outcome.runMs > 0) this.jobRun.observe({ model: modelSha256 }, outcome.runMs / 1000)
    this.jobQueue.observe({ model: modelSha256 }, outcome.queueMs / 1000)
  }

  /** Jobs done since the daemon started (the console's jobs per second). */
  get jobCount(): number {
    return this.jobs
  }

  /** The Prometheus text exposition of every metric in the registry, libp2p's included. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }

  private async earnings(source: DaemonMetricsSource): Promise<DaemonEarnings | undefined> {
    const now = performance.now()
    if (this.earningsRead === undefined || now - this.earningsRead.at > 500) {
      this.earningsRead = { at: now, value: Promise.resolve(source.earnings()) }
    }
    return this.earningsRead.value
  }

  /** Ticks and amount over every lease: ended ones folded in once, running ones read as they are. */
  private totals(): { ticks: number; amount: bigint } {
    let ticks = this.endedTicks
    let amount = this.endedAmount
    for (const lease of this.live) {
      ticks += lease.ticksPaid
      amount += lease.amountPaid
      if (lease.state === 'ended') this.fold(lease)
    }
    return { ticks, amount }
  }

  /** Move an ended lease's ticks and amount into the ended totals, once (so the set holds running leases only). */
  private fold(lease: LeaseInfo): void {
    if (!this.live.delete(lease)) return
    this.endedTicks += lease.ticksPaid
    this.endedAmount += lease.amountPaid
  }
}

/** Create the daemon's metrics registry; the daemon passes `registry` to libp2p's prometheus metrics too. */
export function createDaemonMetrics(source: DaemonMetricsSource): DaemonMetrics {
  return new DaemonMetrics(source)
}
