import type { Libp2pEvents, PeerId, Startable } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { isLoopback, isPrivate } from '@libp2p/utils'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { TypedEventTarget } from 'main-event'

const log = logger('parkbench:net:reachability')

/**
 * What a node knows of how others reach it:
 * - `public`: an address of ours on a public IP was dialled back by another peer (AutoNAT) or is announced;
 * - `private`: none was, and none can be (every interface address is private, so a NAT stands in front), or none
 *   was within `privateAfterMs` (a firewall); others reach us through relays, if we hold reservations;
 * - `local`: we listen on loopback only (a dev or test node); nobody outside this machine can reach us;
 * - `unknown`: not decided yet.
 */
export type Reachability = 'unknown' | 'public' | 'private' | 'local'

export interface ReachabilityStatus {
  reachability: Reachability
  /** Our addresses on public IPs that were verified dialable (no relayed ones). */
  publicAddresses: string[]
  /** Our `/p2p-circuit` addresses: one per relay that holds a reservation for us. */
  relayedAddresses: string[]
  /** The relays those reservations are on (peer ids). */
  relays: string[]
}

export interface ReachabilityInit {
  /** Run AutoNAT (ask peers to dial our public addresses back; answer theirs). Default true. */
  autonat?: boolean
  /**
   * When private, listen on `/p2p-circuit` this many times: a reservation on each of that many relays (found among
   * our peers and on the DHT). 0 makes none. Default 2: one relay may go away while the other still carries us.
   */
  reservations?: number
  /** A node whose public interface address nobody dialled back within this long is private, ms. Default 30 s. */
  privateAfterMs?: number
  /** How often the status is recomputed besides on every address change, ms. Default 5 s. */
  checkIntervalMs?: number
  /** Called when the status changes (reachability, relays or addresses). */
  onChange?(status: ReachabilityStatus): void
}

export interface ReachabilityComponents {
  peerId: PeerId
  addressManager: {
    getAddressesWithMetadata(): Array<{ multiaddr: Multiaddr; verified: boolean; type: string }>
    getAddresses(): Multiaddr[]
  }
  transportManager: { listen(addrs: Multiaddr[]): Promise<void> }
  events: TypedEventTarget<Libp2pEvents>
}

/** The libp2p service a node's reachability comes from: `node.services.reachability.status()`. */
export interface ReachabilityService {
  status(): ReachabilityStatus
}

const CIRCUIT = '/p2p-circuit'

function isCircuit(addr: Multiaddr): boolean {
  return addr.toString().includes(CIRCUIT)
}

/** The relay's peer id in `<relay addr>/p2p/<relay>/p2p-circuit/p2p/<us>`. */
function relayOf(addr: Multiaddr): string | undefined {
  const text = addr.toString()
  const before = text.slice(0, text.indexOf(CIRCUIT))
  const match = /\/p2p\/([^/]+)$/.exec(before)
  return match?.[1]
}

/** Whether an address is on an IP (v4 or v6) that the internet routes. */
function isPublicIp(addr: Multiaddr): boolean {
  const first = addr.getComponents()[0]
  if (first == null || (first.name !== 'ip4' && first.name !== 'ip6')) return false
  try {
    return !isPrivate(addr) && !isLoopback(addr)
  } catch {
    return false
  }
}

class ReachabilityTracker implements ReachabilityService, Startable {
  private readonly components: ReachabilityComponents
  private readonly reservations: number
  private readonly privateAfterMs: number
  private readonly checkIntervalMs: number
  private readonly onChange: ((status: ReachabilityStatus) => void) | undefined
  private current: ReachabilityStatus = {
    reachability: 'unknown',
    publicAddresses: [],
    relayedAddresses: [],
    relays: [],
  }
  private startedAt = 0
  private timer: ReturnType<typeof setInterval> | undefined
  private reserving = false
  private readonly onUpdate = (): void => this.check()

  constructor(components: ReachabilityComponents, init: ReachabilityInit) {
    this.components = components
    this.reservations = init.reservations ?? 2
    this.privateAfterMs = init.privateAfterMs ?? 30_000
    this.checkIntervalMs = init.checkIntervalMs ?? 5_000
    this.onChange = init.onChange
  }

  readonly [Symbol.toStringTag] = 'parkbench/reachability'

  start(): void {
    this.startedAt = Date.now()
  }

  afterStart(): void {
    this.components.events.addEventListener('self:peer:update', this.onUpdate)
    this.timer = setInterval(this.onUpdate, this.checkIntervalMs)
    this.timer.unref?.()
    this.check()
  }

  stop(): void {
    this.components.events.removeEventListener('self:peer:update', this.onUpdate)
    clearInterval(this.timer)
  }

  status(): ReachabilityStatus {
    return { ...this.current }
  }

  private check(): void {
    const all = this.components.addressManager.getAddressesWithMetadata()
    const direct = all.filter((a) => !isCircuit(a.multiaddr))
    const publicAddresses = direct.filter((a) => a.verified && isPublicIp(a.multiaddr)).map((a) => a.multiaddr)
    const relayed = this.components.addressManager.getAddresses().filter(isCircuit)
    const transports = direct.filter((a) => a.type === 'transport').map((a) => a.multiaddr)
    let reachability: Reachability
    if (publicAddresses.length > 0) reachability = 'public'
    else if (transports.length > 0 && transports.every((a) => isLoopback(a))) reachability = 'local'
    else if (!transports.some(isPublicIp)) reachability = 'private'
    else if (Date.now() - this.startedAt >= this.privateAfterMs) reachability = 'private'
    else reachability = 'unknown'
    const next: ReachabilityStatus = {
      reachability,
      publicAddresses: publicAddresses.map(String),
      relayedAddresses: relayed.map(String),
      relays: [...new Set(relayed.map(relayOf).filter((r): r is string => r != null))],
    }
    if (reachability === 'private') this.reserve()
    if (JSON.stringify(next) === JSON.stringify(this.current)) return
    log('reachability %s, relayed addresses %o', reachability, next.relayedAddresses)
    this.current = next
    this.onChange?.(this.status())
  }

  /** Listen on `/p2p-circuit` once per wanted reservation; the relay transport finds the relays and keeps them. */
  private reserve(): void {
    if (this.reserving || this.reservations === 0) return
    this.reserving = true
    const addrs = Array.from({ length: this.reservations }, () => multiaddr(CIRCUIT))
    this.components.transportManager.listen(addrs).catch((err: Error) => {
      log.error('could not listen on %s - %e', CIRCUIT, err)
    })
  }
}

/**
 * A libp2p service that tells whether the node is reachable from the internet and, when it is not, takes relay
 * reservations so that it still is (through `/p2p-circuit` addresses, which its DHT records then carry). Needs the
 * circuit relay transport (`relayTransports({ client: true })`) for reservations, and AutoNAT for `public`.
 */
export function reachability(init: ReachabilityInit = {}): (components: ReachabilityComponents) => ReachabilityService {
  return (components) => new ReachabilityTracker(components, init)
}
