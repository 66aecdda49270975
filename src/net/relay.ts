import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { type CircuitRelayService, circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import type { AbortOptions, PeerInfo, PeerRouting } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { Libp2pOptions } from 'libp2p'
import { type HolePunchInit, holePunch } from './hole-punch.js'

const log = logger('parkbench:net:relay')

/** How often relay discovery may ask the DHT for random peers while it looks for a relay, ms. */
export const RELAY_DISCOVERY_WALK_INTERVAL_MS = 30_000

/** What a relay lets the peers that use it do. See {@link DEFAULT_RELAY_SERVER_LIMITS}. */
export interface RelayServerLimits {
  /** Peers holding a reservation (a relayed address) here at once; past it a new one is refused. */
  maxReservations: number
  /** How long a reservation lasts, ms; the peer refreshes it before it ends. */
  reservationTtlMs: number
  /** Relayed connections one peer may open through us at once over one connection (hop streams). */
  maxConnectionsPerDialer: number
  /** Relayed connections into one reserved peer at once (stop streams we open to it). */
  maxConnectionsPerTarget: number
  /** A relayed connection is reset after this long, ms. */
  durationMs: number
  /** A relayed connection is reset once this many bytes have crossed it, both directions together. */
  bytes: bigint
}

/**
 * Chosen for a lease, not for libp2p's intended use (a short-lived connection that only coordinates a hole punch).
 * libp2p's defaults, 2 min and 128 KiB per relayed connection, would cut a lease within its first minutes: a lease
 * sends a ~330 B commitment every second and an inference request can be 600 KB. One hour and 1 GiB carry a lease's
 * metering for the hour and a fair amount of inference (or one model push of up to 256 MiB); when a limit ends a
 * relayed connection the renter redials, and the new connection gets fresh limits. 64 reservations of 32 relayed
 * connections each bound what one relay carries to what a small community relay on a home line can give.
 * Reservations last libp2p's 2 hours (refreshed by the client before they end).
 */
export const DEFAULT_RELAY_SERVER_LIMITS: RelayServerLimits = {
  maxReservations: 64,
  reservationTtlMs: 2 * 60 * 60_000,
  maxConnectionsPerDialer: 8,
  maxConnectionsPerTarget: 32,
  durationMs: 60 * 60_000,
  bytes: 1n << 30n,
}

export interface RelayInit {
  /** Relay for others, with these limits (or the defaults for `true`). Off by default. */
  server?: Partial<RelayServerLimits> | true
  /**
   * Dial and listen on `/p2p-circuit` addresses and upgrade relayed connections with DCUtR. A reservation is made
   * only for a `/p2p-circuit` listen address: `/p2p-circuit` alone takes one on the first relay the node meets (a
   * `bootstrap` peer that runs a relay, say); `<relay multiaddr>/p2p-circuit` on that relay. Off by default.
   */
  client?: boolean
  /**
   * The local port every outgoing TCP dial leaves from (src/net/dial-port.ts), so that peers observe it as one
   * address a hole punch can dial. `'auto'` (the default for a relay client) picks a free port at start; `false` or
   * 0 dials from ephemeral ports (and then no hole punch can work over TCP).
   */
  dialPort?: number | 'auto' | false
  /** Hole punching over relayed connections (src/net/hole-punch.ts); on for a relay client, `false` turns it off. */
  holePunch?: Omit<HolePunchInit, 'dialPort'> | false
}

/** The circuit relay transport, when the node is a relay client. */
export function relayTransports(init: RelayInit = {}): NonNullable<Libp2pOptions['transports']> {
  if (init.client !== true) return []
  const transport = circuitRelayTransport()
  // Relay discovery walks the DHT for relays with libp2p's random walk, which repeats its query at once when it
  // ends. Our DHT answers at once when its routing table is empty (allowQueryWithZeroPeers), so that walk became a
  // loop that never yielded and the node never finished starting. The transport gets a paced walk instead; the
  // rest of its components are libp2p's own (looked up through the prototype).
  return [
    (components: any) =>
      transport(
        Object.create(components, {
          randomWalk: { value: pacedRandomWalk(() => components.peerRouting, RELAY_DISCOVERY_WALK_INTERVAL_MS) },
        }),
      ),
  ]
}

/** libp2p's `RandomWalk` component (from @libp2p/interface-internal, which we do not depend on). */
export interface RandomWalk {
  walk(options?: AbortOptions): AsyncGenerator<PeerInfo>
}

/** A random walk that starts a DHT query for a random key at most once every `intervalMs`. */
export function pacedRandomWalk(peerRouting: () => PeerRouting, intervalMs: number): RandomWalk {
  return {
    async *walk(options: AbortOptions = {}): AsyncGenerator<PeerInfo> {
      const signal = options.signal ?? new AbortController().signal
      while (!signal.aborted) {
        const started = Date.now()
        try {
          for await (const peer of peerRouting().getClosestPeers(randomBytes(32), { signal })) yield peer
        } catch (err) {
          if (signal.aborted) return
          log.error('random walk for relays failed - %e', err)
        }
        await sleep(Math.max(0, intervalMs - (Date.now() - started)), undefined, { signal }).catch(() => {})
      }
    },
  }
}

/** The relay server and DCUtR services a relay configuration adds to a node (none by default). */
export function relayServices(init: RelayInit = {}): Record<string, (components: any) => unknown> {
  const services: Record<string, (components: any) => unknown> = {}
  if (init.server != null) {
    const limits = { ...DEFAULT_RELAY_SERVER_LIMITS, ...(init.server === true ? {} : init.server) }
    services.relay = circuitRelayServer({
      maxInboundHopStreams: limits.maxConnectionsPerDialer,
      maxOutboundStopStreams: limits.maxConnectionsPerTarget,
      reservations: {
        maxReservations: limits.maxReservations,
        reservationTtl: limits.reservationTtlMs,
        applyDefaultLimit: true,
        defaultDurationLimit: limits.durationMs,
        defaultDataLimit: limits.bytes,
      },
    })
  }
  // DCUtR tries to turn a relayed connection into a direct one from observed addresses; it needs identify (always
  // there) and a dial port (resolved to a number by createNode).
  if (init.client === true && init.holePunch !== false) {
    const dialPort = typeof init.dialPort === 'number' && init.dialPort > 0 ? init.dialPort : undefined
    services.holePunch = holePunch({ ...init.holePunch, ...(dialPort != null ? { dialPort } : {}) })
  }
  return services
}

export type { CircuitRelayService }
