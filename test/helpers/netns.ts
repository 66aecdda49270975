import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process'
import { AbortedError, ParkbenchError } from '../../src/errors.js'
import {
  removeNamespaces,
  removeNamespacesSync,
  sweepStaleNamespaces,
  watchParentForNamespaces,
} from './netns-cleanup.js'

/**
 * A NAT lab for tests: real network namespaces joined by veth pairs, real Linux NAT (iptables MASQUERADE, nft
 * backend), built by the test and removed after it. Needs root, iproute2 and iptables; call `natLabSupport()` first.
 *
 * ```
 *   relay 10.0.0.10 ─┐                              ┌─ a-nat 10.0.0.100 ── 192.168.1.1 │ a 192.168.1.2
 *   echo  10.0.0.11 ─┤ internet (bridge, 10.0.0/24) ┤
 *                    │                              └─ c-nat 10.0.0.102 ── 100.64.3.1 │ c-router 100.64.3.2
 *                    │                                                     192.168.3.1 │ c 192.168.3.2
 * ```
 *
 * Every address lives only inside the lab's namespaces: the root namespace's links, routes and iptables are never
 * touched (veths are created straight inside their namespaces), and nothing routes out of the lab.
 *
 * @example
 * const lab = await createNatLab({ lans: [{ name: 'a', nat: 'symmetric' }] })
 * const server = lab.spawn('relay', [process.execPath, '-e', script])
 * const { code, stdout } = await lab.exec('a', [process.execPath, '-e', client])
 * await lab.close()
 */

/**
 * `cone`: plain MASQUERADE. Linux keeps the LAN source port when it is free, so one LAN socket gets one public
 * port whatever the destination (endpoint-independent mapping; filtering stays address-and-port dependent).
 * `symmetric`: `MASQUERADE --random-fully`, a fresh random public port for every connection, so two destinations
 * see two ports (and no hash a hole punch could predict, unlike `--random`).
 */
export type NatKind = 'cone' | 'symmetric'

export interface NatLanInit {
  /** The LAN host's name (also the prefix of its NATs' names: `<name>-nat`, `<name>-router`). */
  name: string
  /** The NAT facing the internet (the carrier-grade NAT when `doubleNat`). Default 'cone'. */
  nat?: NatKind
  /** A carrier-grade NAT (`<name>-nat`, on 100.64.x) in front of a home router (`<name>-router`). */
  doubleNat?: boolean
  /** The home router's NAT when `doubleNat`. Default 'cone'. */
  routerNat?: NatKind
  /**
   * What the NAT(s) do with an unsolicited packet to their own outside address (a TCP SYN to a port no mapping
   * holds): `reject` (default) lets the NAT's kernel answer it with a RST, as OpenWrt's default `REJECT` does;
   * `drop` discards it silently, a "stealth" router. A TCP hole punch needs `drop` in this lab: its links have no
   * latency, so one side's SYN reaches the other NAT before that side's own SYN has opened the mapping, and a RST
   * kills the attempt (docs/hole-punch.md).
   */
  unsolicited?: 'reject' | 'drop'
}

export interface NatLabInit {
  /** Hosts on the internet side, each its own namespace. Default ['relay']. */
  publicHosts?: string[]
  /** Private LANs, each a host behind its own NAT. Default one cone LAN 'a'. */
  lans?: NatLanInit[]
  /** Namespace name prefix. Default 'pbnat'. */
  prefix?: string
  /**
   * Number the lab's internet from 11.0.0.0/24 instead of 10.0.0.0/24: libp2p treats a private address as
   * unreachable from outside (AutoNAT never checks it, DCUtR never dials it, a public node never announces it), so a
   * lab that studies reachability needs addresses libp2p takes for public ones. They exist only inside the lab's
   * namespaces, which route nowhere else (the Shadow simulator numbers its hosts from 11.0.0.0/8 for the same reason).
   * Default false.
   */
  publicInternet?: boolean
}

export interface NatLabExecOptions {
  /** Kill the command after this long and reject with AbortedError. Default 10 s. */
  timeoutMs?: number
  signal?: AbortSignal
  /** Written to the command's stdin, which is then closed. */
  input?: string
  env?: NodeJS.ProcessEnv
}

export interface NatLabExecResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface NatLab {
  /** `<prefix>-<pid>-<counter>`: every namespace of this lab starts with it. */
  readonly id: string
  /** Every host name: public hosts, LAN hosts and NATs. */
  readonly hosts: readonly string[]
  /** The namespace a host runs in. */
  namespace(host: string): string
  /** A host's own address (a NAT's: its internet-side one). */
  address(host: string): string
  /** The address a host's connections to the internet come from: its outermost NAT's, or its own if public. */
  publicAddress(host: string): string
  /** Run a command in a host's namespace to its end; never rejects on a non-zero exit. */
  exec(host: string, argv: readonly string[], options?: NatLabExecOptions): Promise<NatLabExecResult>
  /** Start a command in a host's namespace; `close()` kills it if it still runs. */
  spawn(host: string, argv: readonly string[], options?: SpawnOptions): ChildProcess
  /** Kill the lab's processes and delete its namespaces (veths and iptables rules go with them). Idempotent. */
  close(): Promise<void>
}

/** Building the lab failed (a command exited non-zero); `cause` holds its stderr. */
export class NatLabSetupError extends ParkbenchError {
  static override name = 'NatLabSetupError'
  constructor(message = 'Could not build the NAT lab', options: ErrorOptions = {}) {
    super(message, 'NAT_LAB_SETUP_FAILED', options)
  }
}

/** A host name the lab does not have, or an invalid one in the options. */
export class NatLabHostError extends ParkbenchError {
  static override name = 'NatLabHostError'
  constructor(message = 'Unknown NAT lab host', options: ErrorOptions = {}) {
    super(message, 'NAT_LAB_UNKNOWN_HOST', options)
  }
}

export const NAT_LAB_PREFIX = 'pbnat'
const PRIVATE_INTERNET = '10.0.0'
const PUBLIC_INTERNET = '11.0.0'
const HOST_NAME = /^[a-z][a-z0-9]{0,11}$/
const SETUP_TIMEOUT_MS = 10_000

interface HostSpec {
  namespace: string
  address: string
  publicAddress: string
}

let labCounter = 0
const openLabs = new Set<string[]>()
let exitHandlerInstalled = false

/**
 * Build a lab: an internet bridge, its public hosts, and each LAN behind its NAT(s). Stale namespaces of dead
 * earlier runs (same prefix) are swept first.
 */
export async function createNatLab(init: NatLabInit = {}): Promise<NatLab> {
  const prefix = init.prefix ?? NAT_LAB_PREFIX
  const publicHosts = init.publicHosts ?? ['relay']
  const lans = init.lans ?? [{ name: 'a' }]
  const id = `${prefix}-${process.pid}-${labCounter++}`
  const names = [...publicHosts, ...lans.map((lan) => lan.name)]
  for (const name of names) {
    if (!HOST_NAME.test(name)) throw new NatLabHostError(`Host name ${JSON.stringify(name)} must match ${HOST_NAME}`)
  }
  if (new Set(names).size !== names.length) throw new NatLabHostError('Host names must be unique')

  const hosts = new Map<string, HostSpec>()
  const internetPrefix = init.publicInternet === true ? PUBLIC_INTERNET : PRIVATE_INTERNET
  const ns = (role: string): string => `${id}-${role}`
  const internet = ns('inet')
  publicHosts.forEach((name, i) => {
    const address = `${internetPrefix}.${10 + i}`
    hosts.set(name, { namespace: ns(name), address, publicAddress: address })
  })
  lans.forEach((lan, i) => {
    const natAddress = `${internetPrefix}.${100 + i}`
    hosts.set(`${lan.name}-nat`, { namespace: ns(`${lan.name}-nat`), address: natAddress, publicAddress: natAddress })
    if (lan.doubleNat === true) {
      const wan = `100.64.${i + 1}.2`
      hosts.set(`${lan.name}-router`, { namespace: ns(`${lan.name}-rtr`), address: wan, publicAddress: natAddress })
    }
    hosts.set(lan.name, { namespace: ns(lan.name), address: `192.168.${i + 1}.2`, publicAddress: natAddress })
  })
  const namespaces = [internet, ...[...hosts.values()].map((host) => host.namespace)]

  await sweepStaleNamespaces(prefix)
  // Cleanup is armed before the first namespace exists, so a crash mid-setup leaves nothing behind.
  openLabs.add(namespaces)
  installExitHandler()
  const watchdog = watchParentForNamespaces(namespaces)
  const children = new Set<ChildProcess>()
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const child of children) child.kill('SIGKILL')
      await removeNamespaces(namespaces)
      openLabs.delete(namespaces)
      watchdog.cancel()
    })()
    return closing
  }

  try {
    await build(internet, hosts, publicHosts, lans)
  } catch (err) {
    await close()
    throw err
  }

  const lookup = (host: string): HostSpec => {
    const spec = hosts.get(host)
    if (spec == null) throw new NatLabHostError(`No host ${JSON.stringify(host)} in NAT lab ${id}`)
    return spec
  }
  return {
    id,
    hosts: [...hosts.keys()],
    namespace: (host) => lookup(host).namespace,
    address: (host) => lookup(host).address,
    publicAddress: (host) => lookup(host).publicAddress,
    exec: (host, argv, options = {}) => run(['ip', 'netns', 'exec', lookup(host).namespace, ...argv], options),
    spawn: (host, argv, options = {}) => {
      const child = spawn('ip', ['netns', 'exec', lookup(host).namespace, ...argv], options)
      children.add(child)
      child.once('exit', () => children.delete(child))
      return child
    },
    close,
  }
}

async function build(
  internet: string,
  hosts: Map<string, HostSpec>,
  publicHosts: readonly string[],
  lans: readonly NatLanInit[],
): Promise<void> {
  const nsOf = (host: string): string => hosts.get(host)!.namespace
  for (const namespace of [internet, ...[...hosts.values()].map((host) => host.namespace)]) {
    await ip('netns', 'add', namespace)
    await ip('-n', namespace, 'link', 'set', 'lo', 'up')
  }
  await ip('-n', internet, 'link', 'add', 'br0', 'type', 'bridge')
  await ip('-n', internet, 'link', 'set', 'br0', 'up')
  let port = 0
  const plugIn = async (namespace: string, ifname: string, address: string): Promise<void> => {
    const bridgePort = `port${port++}`
    await link(namespace, ifname, internet, bridgePort, `${address}/24`)
    await ip('-n', internet, 'link', 'set', bridgePort, 'master', 'br0', 'up')
  }

  for (const name of publicHosts) await plugIn(nsOf(name), 'eth0', hosts.get(name)!.address)
  for (const [i, lan] of lans.entries()) {
    const nat = nsOf(`${lan.name}-nat`)
    await plugIn(nat, 'wan0', hosts.get(`${lan.name}-nat`)!.address)
    let home = nat
    if (lan.doubleNat === true) {
      // The carrier's NAT hands the home router an address from the shared space 100.64.0.0/10 (RFC 6598).
      home = nsOf(`${lan.name}-router`)
      await link(nat, 'lan0', home, 'wan0', `100.64.${i + 1}.1/24`, `100.64.${i + 1}.2/24`)
      await ip('-n', home, 'route', 'add', 'default', 'via', `100.64.${i + 1}.1`)
      await natRules(home, lan.routerNat ?? 'cone', lan.unsolicited ?? 'reject')
    }
    await natRules(nat, lan.nat ?? 'cone', lan.unsolicited ?? 'reject')
    await link(home, 'lan0', nsOf(lan.name), 'eth0', `192.168.${i + 1}.1/24`, `192.168.${i + 1}.2/24`)
    await ip('-n', nsOf(lan.name), 'route', 'add', 'default', 'via', `192.168.${i + 1}.1`)
  }
}

/** A veth pair from `a`/`aName` to `b`/`bName`, created inside the two namespaces, addressed and up. */
async function link(a: string, aName: string, b: string, bName: string, aAddress: string, bAddress?: string) {
  await ip('link', 'add', aName, 'netns', a, 'type', 'veth', 'peer', 'name', bName, 'netns', b)
  await ip('-n', a, 'addr', 'add', aAddress, 'dev', aName)
  await ip('-n', a, 'link', 'set', aName, 'up')
  if (bAddress != null) await ip('-n', b, 'addr', 'add', bAddress, 'dev', bName)
  await ip('-n', b, 'link', 'set', bName, 'up')
}

/** A home-router NAT on `wan0`: forward, masquerade, and let in only replies (as a real router does). */
async function natRules(namespace: string, kind: NatKind, unsolicited: 'reject' | 'drop'): Promise<void> {
  const inNs = (...argv: string[]) => checked(['ip', 'netns', 'exec', namespace, ...argv])
  await inNs('sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward')
  const random = kind === 'symmetric' ? ['--random-fully'] : []
  await inNs('iptables', '-w', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan0', '-j', 'MASQUERADE', ...random)
  await inNs(
    'iptables',
    '-w',
    '-A',
    'FORWARD',
    '-i',
    'wan0',
    '-m',
    'conntrack',
    '--ctstate',
    'ESTABLISHED,RELATED',
    '-j',
    'ACCEPT',
  )
  await inNs('iptables', '-w', '-A', 'FORWARD', '-i', 'wan0', '-j', 'DROP')
  if (unsolicited === 'drop') {
    await inNs('iptables', '-w', '-A', 'INPUT', '-i', 'wan0', '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'DROP')
  }
}

function ip(...args: string[]): Promise<void> {
  return checked(['ip', ...args])
}

async function checked(argv: readonly string[]): Promise<void> {
  const result = await run(argv, { timeoutMs: SETUP_TIMEOUT_MS })
  if (result.code !== 0) {
    throw new NatLabSetupError(`\`${argv.join(' ')}\` exited with ${result.code ?? result.signal}`, {
      cause: new Error(result.stderr.trim()),
    })
  }
}

function run(argv: readonly string[], options: NatLabExecOptions): Promise<NatLabExecResult> {
  const signal = AbortSignal.any([
    AbortSignal.timeout(options.timeoutMs ?? 10_000),
    ...(options.signal != null ? [options.signal] : []),
  ])
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new AbortedError(`\`${argv.join(' ')}\` aborted`, { cause: signal.reason }))
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: 'pipe',
      ...(options.env != null ? { env: options.env } : {}),
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    child.stdin.on('error', () => {})
    child.stdin.end(options.input ?? '')
    const onAbort = (): void => {
      child.kill('SIGKILL')
      reject(new AbortedError(`\`${argv.join(' ')}\` did not finish in time`, { cause: signal.reason }))
    }
    signal.addEventListener('abort', onAbort, { once: true })
    child.once('error', (err) => {
      signal.removeEventListener('abort', onAbort)
      resolve({ code: 127, signal: null, stdout, stderr: `${stderr}${err.message}` })
    })
    child.once('close', (code, exitSignal) => {
      signal.removeEventListener('abort', onAbort)
      resolve({ code, signal: exitSignal, stdout, stderr })
    })
  })
}

function installExitHandler(): void {
  if (exitHandlerInstalled) return
  exitHandlerInstalled = true
  // 'exit' handlers must be synchronous: execFileSync, not the async close().
  process.on('exit', () => {
    for (const namespaces of openLabs) removeNamespacesSync(namespaces)
  })
}

let support: Promise<{ ok: true } | { ok: false; reason: string }> | undefined

/**
 * Whether NAT labs can run here: Linux, root, `ip`, `iptables`, and a namespace that can really be made with a
 * veth and a `MASQUERADE --random-fully` rule in it. Tests call `t.skip(reason)` when it says no.
 */
export function natLabSupport(): Promise<{ ok: true } | { ok: false; reason: string }> {
  support ??= (async () => {
    if (process.platform !== 'linux') return { ok: false, reason: `NAT lab needs Linux, not ${process.platform}` }
    if (process.getuid?.() !== 0) return { ok: false, reason: 'NAT lab needs root (network namespaces)' }
    const tools = [
      { argv: ['ip', '-V'], reason: 'NAT lab needs iproute2 (`ip`): apt-get install iproute2' },
      { argv: ['iptables', '-V'], reason: 'NAT lab needs iptables: apt-get install iptables' },
    ]
    for (const tool of tools) {
      const result = await run(tool.argv, { timeoutMs: 5_000 }).catch(() => undefined)
      if (result?.code !== 0) return { ok: false, reason: tool.reason }
    }
    const probe = `${NAT_LAB_PREFIX}-${process.pid}-probe`
    try {
      await ip('netns', 'add', probe)
      await ip('-n', probe, 'link', 'add', 'wan0', 'type', 'veth', 'peer', 'name', 'lan0')
      await checked([
        'ip',
        'netns',
        'exec',
        probe,
        'iptables',
        '-w',
        '-t',
        'nat',
        '-A',
        'POSTROUTING',
        '-o',
        'wan0',
        '-j',
        'MASQUERADE',
        '--random-fully',
      ])
      return { ok: true as const }
    } catch (err) {
      const detail = ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message
      return { ok: false, reason: `NAT lab cannot create a namespace with NAT here: ${detail}` }
    } finally {
      await removeNamespaces([probe])
    }
  })()
  return support
}
