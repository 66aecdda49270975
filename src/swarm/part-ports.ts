import { readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Schedule } from './schedule.js'

/**
 * Where every node of a TCP run listens: the bootstrap node on `base`, node i of the schedule on `base + 1 + i`, on
 * every host. So every process (and every part of a split run) knows every node's port, and from it its region,
 * without being told.
 */
export interface RunPorts {
  base: number
  /** Each node's port, by id. */
  ports: Map<string, number>
  /** [port, region] for the bootstrap node and every node, as a member process is given them. */
  regions: Array<[number, string]>
  /** The region of the node listening at a TCP address, for shaped TCP. */
  regionOf(addr: Multiaddr): string | undefined
}

export function runPorts(schedule: Pick<Schedule, 'nodes'>, base: number, hubRegion: string): RunPorts {
  const ports = new Map(schedule.nodes.map((n, i) => [n.id, base + 1 + i]))
  const regions: Array<[number, string]> = [
    [base, hubRegion],
    ...schedule.nodes.map((n) => [ports.get(n.id)!, n.region] as [number, string]),
  ]
  return { base, ports, regions, regionOf: regionOfPorts(regions) }
}

/** The region of the node listening at a TCP address, from the run's [port, region] list. */
export function regionOfPorts(regions: Array<[number, string]>): (addr: Multiaddr) => string | undefined {
  const byPort = new Map(regions)
  return (addr) => {
    const port = addr.getComponents().find((c) => c.name === 'tcp')?.value
    return port === undefined ? undefined : byPort.get(Number(port))
  }
}

/** The kernel's ephemeral port range (where outgoing connections take their local port), or Linux's default. */
export async function ephemeralPorts(): Promise<[number, number]> {
  const text = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '32768 60999')
  const [low, high] = text.trim().split(/\s+/).map(Number)
  return Number.isSafeInteger(low) && Number.isSafeInteger(high) ? [low!, high!] : [32768, 60999]
}

/**
 * `count` consecutive free TCP ports on 127.0.0.1, below the ephemeral range where there is room: a port in that
 * range, free when picked, can be taken by any outgoing connection on the host while its node is down (a node
 * restarting after a kill then fails with EADDRINUSE, as seen once in a run here).
 */
export async function freePorts(count: number): Promise<number> {
  const [ephemeralLow, ephemeralHigh] = await ephemeralPorts()
  const [from, to] =
    ephemeralLow - 10_000 >= count ? [10_000, ephemeralLow - count] : [ephemeralHigh + 1, 65_536 - count]
  const free = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const server = createServer()
      server.once('error', () => resolve(false))
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
    })
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = from + Math.floor(Math.random() * Math.max(1, to - from))
    let ok = true
    for (let p = base; p < base + count && ok; p++) ok = await free(p)
    if (ok) return base
  }
  throw new Error(`no ${count} consecutive free ports on 127.0.0.1`)
}
