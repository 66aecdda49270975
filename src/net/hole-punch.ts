import { setTimeout as sleep } from 'node:timers/promises'
import type {
  AbortOptions,
  ComponentLogger,
  Connection,
  IdentifyResult,
  Libp2pEvents,
  Logger,
  PeerId,
  Startable,
  Stream,
  TypedEventTarget,
} from '@libp2p/interface'
import { isPrivate, pbStream } from '@libp2p/utils'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { ParkbenchError } from '../errors.js'
import { MalformedMessageError } from './errors.js'
import { HolePunch } from './pb/dcutr.js'

/**
 * Hole punching over TCP (DCUtR, `/libp2p/dcutr`) between two peers behind NATs that keep source ports, joined by a
 * relayed connection. It replaces `@libp2p/dcutr`, which sends only the node's verified addresses (a NATed node has
 * none) and so never dials; this one sends the addresses peers *observed* our dial port at (identify's
 * `observedAddr` on connections we dialled from it, src/net/dial-port.ts), and both sides dial from their dial ports
 * so the SYNs cross (TCP simultaneous open).
 *
 * The peer that got the relayed connection inbound (a provider, when a renter dials it through a relay) opens the
 * stream and is "B" of the spec: CONNECT (its addresses) -> CONNECT (the other's) -> B measures the round trip,
 * sends SYNC, waits half of it and dials; the other ("A") dials as it reads the SYNC. Both dials are outbound TCP
 * connects, so the security handshake needs roles: A is the noise initiator and multistream-select client, B the
 * responder (libp2p's `initiator: false`), as in go-libp2p. libp2p opens every new stream on the direct connection,
 * which it prefers to a relayed one (its `limits` are unset); the relayed connection is closed once the streams
 * already on it (a running lease's) have ended.
 *
 * What a hostile peer can make us do is bounded: one exchange at a time per connection, each message at most
 * {@link HOLE_PUNCH_LIMITS}.maxMessageBytes, each exchange at most `timeoutMs`, `maxAttemptsPerPeer` punches per peer
 * per `attemptWindowMs` (both roles counted), at most `maxAddresses` addresses dialled per punch, only IPv4/IPv6 TCP
 * addresses, never a private or loopback one (unless `allowPrivateAddresses`), and every dial names the relayed
 * peer's id, so noise fails at once on any other host.
 *
 * @example
 * ```ts
 * createLibp2p({ transports: [dialPortTcp({ dialPort: 4100 }), circuitRelayTransport()],
 *   services: { identify: identify(), holePunch: holePunch({ dialPort: 4100 }) } })
 * ```
 */

export const DCUTR_PROTOCOL = '/libp2p/dcutr'

export interface HolePunchInit {
  /**
   * The node's dial port. Only observed addresses with this port are sent: a NAT that kept it (endpoint-independent
   * mapping). Behind a NAT that picks a port per connection no address qualifies and nothing is punched.
   */
  dialPort?: number
  /** Dial private and loopback addresses too (a lab on private ranges). Default false. */
  allowPrivateAddresses?: boolean
  /** One exchange, messages and dial together, ms. Default 5,000 (go-libp2p's). */
  timeoutMs?: number
  /** Exchanges B tries on one relayed connection. Default 3 (go-libp2p's). */
  attempts?: number
  /** Punches per peer per window, either role. Default 6. */
  maxAttemptsPerPeer?: number
  /** The window of `maxAttemptsPerPeer`, ms. Default 10 min. */
  attemptWindowMs?: number
  /** Punches in progress at once, all peers together. Default 8. */
  maxConcurrent?: number
}

/** The defaults of {@link HolePunchInit}'s limits (protocols/README.md, "Hole punching"). */
export const HOLE_PUNCH_DEFAULTS = {
  timeoutMs: 5_000,
  attempts: 3,
  maxAttemptsPerPeer: 6,
  attemptWindowMs: 10 * 60_000,
  maxConcurrent: 8,
} as const

export const HOLE_PUNCH_LIMITS = {
  /** The spec's limit for one HolePunch message. */
  maxMessageBytes: 4096,
  /** Addresses sent and dialled per punch. */
  maxAddresses: 4,
  /** Peers whose latest observation of our dial port we keep (one address each; the oldest goes first). */
  maxObservers: 32,
} as const

/** Counters since start, for status and benchmarks. */
export interface HolePunchStats {
  /** Exchanges started, either role. */
  attempts: number
  /** Exchanges that ended in a direct connection. */
  upgraded: number
  /** Exchanges that failed (no address, a refused or timed-out dial, a malformed message). */
  failed: number
  /** Exchanges refused for a limit (per peer or at once). */
  refused: number
}

export interface HolePunchService extends Startable {
  /** Addresses we would send now (observed at our dial port): most observers first, at most 4. */
  observedAddresses(): Multiaddr[]
  stats(): HolePunchStats
}

/** What the service uses of libp2p's components (`@libp2p/interface-internal` types, narrowed). */
export interface HolePunchComponents {
  peerId: PeerId
  logger: ComponentLogger
  events: TypedEventTarget<Libp2pEvents>
  registrar: {
    handle(
      protocol: string,
      handler: (stream: Stream, connection: Connection) => void | Promise<void>,
      options?: Record<string, unknown>,
    ): Promise<void>
    unhandle(protocol: string): Promise<void>
    register(protocol: string, topology: Record<string, unknown>): Promise<string>
    unregister(id: string): void
  }
  connectionManager: {
    getConnections(peer?: PeerId): Connection[]
  }
  transportManager: {
    dial(addr: Multiaddr, options?: AbortOptions & { initiator?: boolean }): Promise<Connection>
  }
}

/** A punch refused or failed; `code` says which rule or step. */
export class HolePunchError extends ParkbenchError {
  static override name = 'HolePunchError'
  constructor(message = 'Hole punch failed', code = 'HOLE_PUNCH_FAILED', options: ErrorOptions = {}) {
    super(message, code, options)
  }
}

export function holePunch(init: HolePunchInit = {}): (components: HolePunchComponents) => HolePunchService {
  return (components) => new DefaultHolePunch(components, init)
}

/** How often a relayed connection replaced by a direct one is checked for streams still on it, ms. */
const RETIRE_CHECK_MS = 1_000
/** Streams that do not keep a relayed connection open once a direct one exists: libp2p's housekeeping and ours. */
const HOUSEKEEPING_PROTOCOLS = new Set([DCUTR_PROTOCOL, '/ipfs/id/1.0.0', '/ipfs/id/push/1.0.0', '/ipfs/ping/1.0.0'])
/** How long a punch waits for a first observed address of ours, ms. */
const OBSERVED_WAIT_MS = 1_000
const isRelayed = (connection: Connection): boolean => connection.remoteAddr.toString().includes('/p2p-circuit')

class DefaultHolePunch implements HolePunchService {
  readonly [Symbol.toStringTag] = 'parkbench:hole-punch'
  private readonly log: Logger
  private readonly timeoutMs: number
  private readonly attempts: number
  private readonly maxAttemptsPerPeer: number
  private readonly attemptWindowMs: number
  private readonly maxConcurrent: number
  private readonly observed = new Map<string, Multiaddr>()
  private readonly recent = new Map<string, number[]>()
  private readonly counters: HolePunchStats = { attempts: 0, upgraded: 0, failed: 0, refused: 0 }
  private running = 0
  private waiting: Array<() => void> = []
  private topologyId?: string
  private readonly controller = new AbortController()
  private readonly onIdentify = (event: CustomEvent<IdentifyResult>): void => this.observe(event.detail)

  constructor(
    private readonly components: HolePunchComponents,
    private readonly init: HolePunchInit,
  ) {
    this.log = components.logger.forComponent('parkbench:net:hole-punch')
    this.timeoutMs = init.timeoutMs ?? HOLE_PUNCH_DEFAULTS.timeoutMs
    this.attempts = init.attempts ?? HOLE_PUNCH_DEFAULTS.attempts
    this.maxAttemptsPerPeer = init.maxAttemptsPerPeer ?? HOLE_PUNCH_DEFAULTS.maxAttemptsPerPeer
    this.attemptWindowMs = init.attemptWindowMs ?? HOLE_PUNCH_DEFAULTS.attemptWindowMs
    this.maxConcurrent = init.maxConcurrent ?? HOLE_PUNCH_DEFAULTS.maxConcurrent
  }

  async start(): Promise<void> {
    this.components.events.addEventListener('peer:identify', this.onIdentify)
    await this.components.registrar.handle(DCUTR_PROTOCOL, (stream, connection) => this.respond(stream, connection), {
      maxInboundStreams: 1,
      maxOutboundStreams: 1,
      runOnLimitedConnection: true,
    })
    this.topologyId = await this.components.registrar.register(DCUTR_PROTOCOL, {
      notifyOnLimitedConnection: true,
      onConnect: (_peer: PeerId, connection: Connection) => {
        // The peer the relayed connection came in to starts the punch (the spec's B).
        if (!isRelayed(connection) || connection.direction !== 'inbound') return
        void this.initiate(connection).catch((err: Error) =>
          this.log('punch to %p failed - %e', connection.remotePeer, err),
        )
      },
    })
  }

  async stop(): Promise<void> {
    this.controller.abort(new HolePunchError('Node stopping', 'HOLE_PUNCH_ABORTED'))
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
    await this.components.registrar.unhandle(DCUTR_PROTOCOL)
    if (this.topologyId != null) this.components.registrar.unregister(this.topologyId)
  }

  observedAddresses(): Multiaddr[] {
    // Most observers first, then the most recently observed.
    const ranked = new Map<string, { addr: Multiaddr; observers: number; latest: number }>()
    let order = 0
    for (const addr of this.observed.values()) {
      const key = addr.toString()
      const entry = ranked.get(key) ?? { addr, observers: 0, latest: 0 }
      entry.observers++
      entry.latest = order++
      ranked.set(key, entry)
    }
    return [...ranked.values()]
      .sort((a, b) => b.observers - a.observers || b.latest - a.latest)
      .slice(0, HOLE_PUNCH_LIMITS.maxAddresses)
      .map((e) => e.addr)
  }

  stats(): HolePunchStats {
    return { ...this.counters }
  }

  /** Keep what a peer saw our dial port as, on a direct connection we dialled (from the dial port). */
  private observe(result: IdentifyResult): void {
    const addr = result.observedAddr
    const port = this.init.dialPort
    if (addr == null || port == null || result.connection.direction !== 'outbound' || isRelayed(result.connection)) {
      return
    }
    const parsed = tcpAddress(addr)
    if (parsed == null || parsed.port !== port) return
    if (this.init.allowPrivateAddresses !== true && isPrivate(parsed.addr)) return
    // One address per observer (its latest), so that one peer reporting made-up addresses holds one place only.
    const observer = result.peerId.toString()
    this.observed.delete(observer)
    this.observed.set(observer, parsed.addr)
    while (this.observed.size > HOLE_PUNCH_LIMITS.maxObservers) this.observed.delete(this.observed.keys().next().value!)
    for (const wake of this.waiting.splice(0)) wake()
  }

  /**
   * Whether we have an observed address, waiting up to {@link OBSERVED_WAIT_MS} for one: a node that dialled a
   * relayed address has just connected to the relay too, and that connection's identify may still be under way.
   */
  private async waitForOwnAddresses(signal: AbortSignal): Promise<boolean> {
    if (this.observed.size > 0) return true
    const wait = AbortSignal.any([signal, AbortSignal.timeout(OBSERVED_WAIT_MS)])
    let done: () => void = () => {}
    await new Promise<void>((resolve) => {
      done = (): void => {
        wait.removeEventListener('abort', done)
        resolve()
      }
      this.waiting.push(done)
      wait.addEventListener('abort', done, { once: true })
    })
    this.waiting = this.waiting.filter((w) => w !== done)
    return this.observed.size > 0
  }

  /** Our CONNECT's addresses: {@link observedAddresses}. */
  private ownAddresses(): Uint8Array<ArrayBuffer>[] {
    return this.observedAddresses().map((a) => Uint8Array.from(a.bytes))
  }

  /** The spec's B: we got the relayed connection; open the stream, CONNECT, SYNC, wait half the RTT, dial. */
  private async initiate(relayed: Connection): Promise<void> {
    const peer = relayed.remotePeer
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      if (this.hasDirect(peer) || relayed.status !== 'open' || this.controller.signal.aborted) return
      if (!(await this.waitForOwnAddresses(this.controller.signal))) {
        this.log('no observed address at our dial port: not punching to %p', peer)
        return
      }
      const release = this.admit(peer)
      const signal = AbortSignal.any([AbortSignal.timeout(this.timeoutMs), this.controller.signal])
      let stream: Stream | undefined
      try {
        stream = await relayed.newStream(DCUTR_PROTOCOL, { signal, runOnLimitedConnection: true })
        const messages = pbStream(stream, { maxDataLength: HOLE_PUNCH_LIMITS.maxMessageBytes }).pb(HolePunch)
        const sent = Date.now()
        await messages.write({ type: HolePunch.Type.CONNECT, obsAddrs: this.ownAddresses() }, { signal })
        const connect = await messages.read({ signal })
        if (connect.type !== HolePunch.Type.CONNECT) throw new MalformedMessageError('Expected a CONNECT')
        const addrs = this.dialable(connect.obsAddrs, peer)
        const rtt = Date.now() - sent
        await messages.write({ type: HolePunch.Type.SYNC, obsAddrs: [] }, { signal })
        if (addrs.length === 0)
          throw new HolePunchError('The peer sent no address we may dial', 'HOLE_PUNCH_NO_ADDRESS')
        await sleep(rtt / 2, undefined, { signal })
        await this.dial(addrs, relayed, false, signal)
        await stream.close({ signal }).catch(() => {})
        return
      } catch (err) {
        stream?.abort(err as Error)
        this.counters.failed++
        this.log('punch attempt %d/%d to %p failed - %e', attempt, this.attempts, peer, err)
        if (
          (err as ParkbenchError).code === 'HOLE_PUNCH_NO_ADDRESS' ||
          (err as ParkbenchError).code === 'HOLE_PUNCH_LIMIT'
        ) {
          return
        }
      } finally {
        release()
      }
    }
  }

  /** The spec's A: the peer we reached through a relay asks to punch. */
  private async respond(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer
    let release: () => void = () => {}
    const signal = AbortSignal.any([AbortSignal.timeout(this.timeoutMs), this.controller.signal])
    try {
      if (!isRelayed(connection)) throw new HolePunchError('Not a relayed connection', 'HOLE_PUNCH_NOT_RELAYED')
      release = this.admit(peer)
      const messages = pbStream(stream, { maxDataLength: HOLE_PUNCH_LIMITS.maxMessageBytes }).pb(HolePunch)
      const connect = await messages.read({ signal })
      if (connect.type !== HolePunch.Type.CONNECT) throw new MalformedMessageError('Expected a CONNECT')
      const addrs = this.dialable(connect.obsAddrs, peer)
      await this.waitForOwnAddresses(signal)
      await messages.write({ type: HolePunch.Type.CONNECT, obsAddrs: this.ownAddresses() }, { signal })
      const sync = await messages.read({ signal })
      if (sync.type !== HolePunch.Type.SYNC) throw new MalformedMessageError('Expected a SYNC')
      if (addrs.length === 0) throw new HolePunchError('The peer sent no address we may dial', 'HOLE_PUNCH_NO_ADDRESS')
      // Without an address of ours the peer does not dial, and our SYN alone would not pass its NAT.
      if (this.ownAddresses().length === 0)
        throw new HolePunchError('No observed address of ours', 'HOLE_PUNCH_NO_ADDRESS')
      await this.dial(addrs, connection, true, signal)
      await stream.close({ signal }).catch(() => {})
    } catch (err) {
      stream.abort(err as Error)
      if ((err as ParkbenchError).code !== 'HOLE_PUNCH_LIMIT') this.counters.failed++
      this.log('punch from %p failed - %e', peer, err)
    } finally {
      release()
    }
  }

  private async dial(addrs: Multiaddr[], relayed: Connection, initiator: boolean, signal: AbortSignal): Promise<void> {
    const peer = relayed.remotePeer
    if (this.hasDirect(peer)) return
    this.log('dialling %p at %a as %s', peer, addrs, initiator ? 'initiator' : 'responder')
    // The transport manager, not the connection manager: libp2p's dial queue drops `initiator` (libp2p 3.3.11), and
    // with both sides noise initiators the handshake fails. Every address is dialled at once (from the dial port,
    // each to its own destination); the first connection wins and the others are closed.
    const dials = addrs.map((addr) => this.components.transportManager.dial(addr, { signal, initiator }))
    const connection = await Promise.any(dials).catch((err: AggregateError) => {
      throw err.errors[0] ?? err
    })
    for (const dial of dials) {
      void dial.then(
        (other) => {
          if (other !== connection) void other.close().catch(() => {})
        },
        () => {},
      )
    }
    if (!connection.remotePeer.equals(peer) || isRelayed(connection)) {
      throw new HolePunchError('The dial did not give a direct connection to the peer', 'HOLE_PUNCH_FAILED')
    }
    this.counters.upgraded++
    this.log('direct connection to %p via %a', peer, connection.remoteAddr)
    this.retire(relayed)
  }

  /**
   * Close the relayed connection once only housekeeping streams are left on it (a running lease's stream keeps it),
   * so that punched peers do not hold the relay's slots (32 relayed connections into one provider). Checked every
   * second while the direct connection is open; if that one closes first, the relayed connection stays.
   */
  private retire(relayed: Connection): void {
    const timer = setInterval(() => {
      if (relayed.status !== 'open' || this.controller.signal.aborted || !this.hasDirect(relayed.remotePeer)) {
        clearInterval(timer)
        return
      }
      if (relayed.streams.some((s) => !HOUSEKEEPING_PROTOCOLS.has(s.protocol ?? ''))) return
      clearInterval(timer)
      this.log('closing the relayed connection to %p: a direct one carries its streams', relayed.remotePeer)
      void relayed.close().catch((err: Error) => relayed.abort(err))
    }, RETIRE_CHECK_MS)
    timer.unref()
  }

  /** The peer's addresses we may dial: TCP over IPv4/IPv6, public unless allowed, at most maxAddresses. */
  private dialable(raw: Uint8Array[], peer: PeerId): Multiaddr[] {
    const out: Multiaddr[] = []
    for (const bytes of raw.slice(0, HOLE_PUNCH_LIMITS.maxAddresses)) {
      let addr: Multiaddr
      try {
        addr = multiaddr(bytes)
      } catch {
        continue
      }
      const parsed = tcpAddress(addr)
      if (parsed == null) continue
      if (this.init.allowPrivateAddresses !== true && isPrivate(parsed.addr)) continue
      out.push(parsed.addr.encapsulate(`/p2p/${peer.toString()}`))
    }
    return out
  }

  private hasDirect(peer: PeerId): boolean {
    return this.components.connectionManager
      .getConnections(peer)
      .some((c) => c.status === 'open' && !isRelayed(c) && c.limits == null)
  }

  /** Count an exchange against the limits, or throw HOLE_PUNCH_LIMIT; the returned function ends it. */
  private admit(peer: PeerId): () => void {
    const key = peer.toString()
    const now = Date.now()
    const times = (this.recent.get(key) ?? []).filter((t) => now - t < this.attemptWindowMs)
    if (times.length >= this.maxAttemptsPerPeer || this.running >= this.maxConcurrent) {
      this.counters.refused++
      throw new HolePunchError('Too many hole punches', 'HOLE_PUNCH_LIMIT')
    }
    times.push(now)
    this.recent.set(key, times)
    // Forget peers whose window has passed, so the map stays as small as the set of recent peers.
    if (this.recent.size > 1024) {
      for (const [k, v] of this.recent) if (v.every((t) => now - t >= this.attemptWindowMs)) this.recent.delete(k)
    }
    this.counters.attempts++
    this.running++
    let released = false
    return () => {
      if (released) return
      released = true
      this.running--
    }
  }
}

/** `/ip4|ip6/<ip>/tcp/<port>` (a trailing `/p2p/<id>` dropped), or undefined for any other address. */
function tcpAddress(addr: Multiaddr): { addr: Multiaddr; port: number } | undefined {
  const components = addr.getComponents()
  const last = components.at(-1)
  const parts = last?.name === 'p2p' ? components.slice(0, -1) : components
  if (parts.length !== 2) return undefined
  const [ip, tcp] = parts
  if ((ip!.name !== 'ip4' && ip!.name !== 'ip6') || tcp!.name !== 'tcp') return undefined
  const port = Number(tcp!.value)
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined
  return { addr: multiaddr(`/${ip!.name}/${ip!.value}/tcp/${port}`), port }
}
