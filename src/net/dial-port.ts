import { createServer } from 'node:net'
import type { Transport } from '@libp2p/interface'
import { type TCPComponents, type TCPOptions, tcp } from '@libp2p/tcp'

/**
 * TCP that dials from one fixed local port, the node's "dial port", so that every peer sees its outgoing
 * connections come from one address: behind a NAT that keeps source ports (Linux MASQUERADE without `--random`),
 * `natIP:dialPort`. That observed address is what a hole punch dials (src/net/hole-punch.ts), and both sides of a
 * punch dial from their dial ports at once, so the two SYNs cross and TCP's simultaneous open joins them.
 *
 * Linux lets several *connected* sockets share a local port when each set SO_REUSEADDR (libuv sets it on every
 * explicitly bound socket, and `net.connect({ localPort })` binds first), but not with a listening socket: the dial
 * port is not the listen port. A dial whose 4-tuple is taken (a connection to the same address still open or in
 * TIME_WAIT: EADDRNOTAVAIL, or EADDRINUSE) is made again from an ephemeral port.
 */
export interface DialPortTcpInit {
  /** The local port every TCP dial leaves from. */
  dialPort: number
  /** Options of `@libp2p/tcp` (its `dialOpts.localPort` is set from `dialPort`). */
  tcp?: TCPOptions
}

/** Errors of a dial whose local address and port could not be used; such a dial is retried from an ephemeral port. */
const LOCAL_PORT_TAKEN = new Set(['EADDRINUSE', 'EADDRNOTAVAIL'])

/** `@libp2p/tcp` whose dials leave from `dialPort`, falling back to an ephemeral port when that 4-tuple is taken. */
export function dialPortTcp(init: DialPortTcpInit): (components: TCPComponents) => Transport {
  // @libp2p/tcp spreads dialOpts into net.connect's options; its type does not list localPort.
  const dialOpts = { ...init.tcp?.dialOpts, localPort: init.dialPort } as NonNullable<TCPOptions['dialOpts']>
  const fixed = tcp({ ...init.tcp, dialOpts })
  const ephemeral = tcp(init.tcp)
  return (components) => {
    const transport = fixed(components)
    const fallback = ephemeral(components)
    // A proxy keeps the transport's symbols (libp2p recognises transports by them) and its listener.
    return new Proxy(transport, {
      get(target, property, receiver) {
        if (property !== 'dial') return Reflect.get(target, property, receiver)
        return async (...args: Parameters<Transport['dial']>) => {
          if ((args[1] as { initiator?: boolean }).initiator === false) args[1] = asResponder(args[1])
          try {
            return await target.dial(...args)
          } catch (err) {
            if (!LOCAL_PORT_TAKEN.has((err as NodeJS.ErrnoException).code ?? '') || args[1].signal?.aborted) throw err
            return await fallback.dial(...args)
          }
        }
      },
    })
  }
}

/**
 * Dial options under which the connection is upgraded as the *responder*: a hole punch's two sides both dial (TCP
 * simultaneous open), so one of them must answer noise and multistream-select. libp2p's upgrader does that for
 * `initiator: false`, but yamux takes its role (client: odd stream ids) from the connection's direction, which stays
 * 'outbound' for a dial; both sides would open stream 1 and the muxer fails. The connection is marked inbound first.
 */
function asResponder(options: Parameters<Transport['dial']>[1]): Parameters<Transport['dial']>[1] {
  const upgrader = options.upgrader
  const upgradeOutbound: typeof upgrader.upgradeOutbound = (maConn, opts) => {
    ;(maConn as { direction: 'inbound' | 'outbound' }).direction = 'inbound'
    return upgrader.upgradeOutbound(maConn, opts)
  }
  return { ...options, upgrader: Object.create(upgrader, { upgradeOutbound: { value: upgradeOutbound } }) }
}

/** A TCP port free on all interfaces now, to use as a dial port (`dialPort: 'auto'`). */
export function pickDialPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '0.0.0.0', () => {
      const address = server.address()
      server.close(() => {
        if (address == null || typeof address === 'string') reject(new Error('No port'))
        else resolve(address.port)
      })
    })
  })
}
