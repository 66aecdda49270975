import { multiaddr } from '@multiformats/multiaddr'
import type { LeaseInfo } from '../lease/metered-lease.js'
import { type ProviderBooks, type RenterBooks, renterBooks, settleProvider } from './audit.js'
import type { HostilePeer } from './hostile.js'
import type { SwarmProvider, SwarmRenter } from './members.js'
import type { ScheduleEvent } from './schedule.js'
import type { Workload } from './workload.js'

export type RequestEvent = Extract<ScheduleEvent, { kind: 'request' }>

/** What a member's end of the run hands the audit. */
export interface MemberBooks {
  provider?: ProviderBooks
  renter?: RenterBooks
}

/**
 * One member of a run as the run drives it, wherever it lives: in this process ({@link LocalMember}) or in a
 * process of its own (`ProcessMember`, multi-process mode). Every call is best effort and never throws for what
 * the member itself did wrong: that is measured, not fatal.
 */
export interface RunMember {
  readonly id: string
  readonly role: 'provider' | 'renter' | 'garbage' | 'freeloader' | 'bad-offer'
  readonly region: string
  readonly online: boolean
  start(): Promise<void>
  /** Providers: leave cleanly. */
  leave(): Promise<void>
  /** Die at once (a real SIGKILL in multi-process mode). */
  kill(): Promise<void>
  request(event: RequestEvent): Promise<void>
  lookup(model: string, first: boolean): Promise<void>
  /** Hostile peers: one move against the provider listening on `target`. */
  attack(target: string[]): Promise<void>
  /** Where it listens, while online. */
  addresses(): string[]
  /** Providers: the leases running now. */
  running(): Promise<LeaseInfo[]>
  /** libp2p ping to `target`, `count` times: the round trips that answered, ms. */
  ping(target: string[], count: number): Promise<number[]>
  /** The run's end: a provider (started again if it is down) settles and hands its books; a renter stops. */
  finish(): Promise<MemberBooks>
  /** Stop whatever still runs (after finish). */
  close(): Promise<void>
}

type Inner = { provider: SwarmProvider } | { renter: SwarmRenter } | { hostile: HostilePeer }

/** A member in this process: a real daemon, renter client or hostile peer on the in-process network. */
export class LocalMember implements RunMember {
  readonly id: string
  readonly role: RunMember['role']
  readonly region: string

  constructor(
    private readonly inner: Inner,
    private readonly workload: Workload,
  ) {
    const spec = 'provider' in inner ? inner.provider.spec : 'renter' in inner ? inner.renter.spec : inner.hostile.spec
    this.id = spec.id
    this.role = spec.role
    this.region = spec.region
  }

  private node() {
    const i = this.inner
    return 'provider' in i ? i.provider.daemon?.node : 'renter' in i ? i.renter.node : i.hostile.node
  }

  get online(): boolean {
    return this.node() !== undefined
  }

  async start(): Promise<void> {
    const i = this.inner
    await ('provider' in i ? i.provider.start() : 'renter' in i ? i.renter.start() : i.hostile.start())
  }

  async leave(): Promise<void> {
    if ('provider' in this.inner) await this.inner.provider.leave()
  }

  async kill(): Promise<void> {
    const i = this.inner
    if ('provider' in i) await i.provider.kill()
    else if ('renter' in i) await i.renter.kill()
    else await i.hostile.stop()
  }

  async request(event: RequestEvent): Promise<void> {
    if ('renter' in this.inner) await this.workload.request(this.inner.renter, event)
  }

  async lookup(model: string, first: boolean): Promise<void> {
    if ('renter' in this.inner) await this.workload.lookup(this.inner.renter, model, first)
  }

  async attack(target: string[]): Promise<void> {
    if ('hostile' in this.inner && target[0] !== undefined) await this.inner.hostile.attack(multiaddr(target[0]))
  }

  addresses(): string[] {
    return (
      this.node()
        ?.getMultiaddrs()
        .map((a) => a.toString()) ?? []
    )
  }

  async running(): Promise<LeaseInfo[]> {
    if (!('provider' in this.inner)) return []
    return (this.inner.provider.daemon?.leaseList() ?? []).filter((l) => l.endedAt === undefined)
  }

  async ping(target: string[], count: number): Promise<number[]> {
    const node = this.node()
    const out: number[] = []
    if (node === undefined) return out
    for (let i = 0; i < count; i++) {
      const ms = await node.services.ping
        .ping(
          target.map((a) => multiaddr(a)),
          { signal: AbortSignal.timeout(5_000) },
        )
        .catch(() => undefined)
      if (ms !== undefined) out.push(ms)
    }
    return out
  }

  async finish(): Promise<MemberBooks> {
    const i = this.inner
    if ('provider' in i) return { provider: await settleProvider(i.provider) }
    if ('renter' in i) {
      // A renter that is down comes back to read its books (its payment store kept them), then stops.
      if (i.renter.client === undefined) await i.renter.start().catch(() => {})
      await i.renter.stop()
      return { renter: renterBooks(i.renter) }
    }
    await i.hostile.stop()
    return {}
  }

  async close(): Promise<void> {
    if ('provider' in this.inner) await this.inner.provider.leave()
  }
}
