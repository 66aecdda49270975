import { readFile } from 'node:fs/promises'
import { availableParallelism, totalmem } from 'node:os'
import { join } from 'node:path'
import { DATA_DIR_LAYOUT } from '../data-dir.js'
import { InvalidInputError } from '../errors.js'
import type { AminoInit } from '../net/amino.js'
import type { RelayServerLimits } from '../net/relay.js'
import { MAX_PROOF_TICKS } from '../pay/constants.js'
import { type ResourcePolicyConfig, type ResourcePolicyInput, resolvePolicy } from './policy-rules.js'

/** The daemon's config file inside the data dir. Every field is optional; CLI flags override it. */
export const CONFIG_FILE = DATA_DIR_LAYOUT.config

export type Address = `0x${string}`

/** How a provider is paid. The chain itself (RPC, contract) comes from the chain config `parkbench chain` saves. */
export interface PayConfig {
  /** Be paid in this ERC-20 instead of the chain's native coin. */
  token?: Address | undefined
  /** Settle a channel on-chain once this much is accepted but unsettled. Default: 600 s at the node's price. */
  settleThreshold?: bigint | undefined
  /** Refuse to serve on a contract whose challenge window is shorter (seconds). Default: the contract's 1 hour. */
  minChallengePeriod?: bigint | undefined
}

export interface SellConfig {
  /** Token base units per leased second. */
  pricePerSecond: bigint
  threads: number
  memoryBytes: bigint
  maxLeaseSeconds: number
  region?: string | undefined
}

/** How the node makes itself reachable from behind a NAT, and whether it relays for others. */
export interface ReachConfig {
  /**
   * Dial and listen through circuit relays: when the node finds itself private (behind a NAT) it reserves relayed
   * addresses and sells through them; DCUtR then tries to upgrade each relayed connection to a direct one.
   * Default true.
   */
  relay: boolean
  /** Relayed addresses to hold when private, one relay each. Default 2. */
  reservations: number
  /** Be a relay for others (a public node), with the limits in src/net/relay.ts. Default false. */
  relayServer: boolean
  /** The relay's limits where they differ from DEFAULT_RELAY_SERVER_LIMITS (src/net/relay.ts). */
  relayLimits: Partial<RelayServerLimits>
  /** A public interface address nobody dialled back within this long means private (a firewall), ms. Default 30 s. */
  privateAfterMs: number
  /** Learn our reachability with AutoNAT (peers dial our addresses back) and answer others'. Default true. */
  autonat: boolean
  /**
   * The local port outgoing TCP dials leave from, so that a hole punch has an address to dial (src/net/dial-port.ts):
   * a number, `'auto'` (default: a free port picked at start) or 0 (ephemeral ports; no hole punching over TCP).
   * Used only with `relay`.
   */
  dialPort: number | 'auto'
  /** Punch relayed connections into direct ones (src/net/hole-punch.ts). Default true; needs `relay`. */
  holePunch: boolean
  /**
   * Ask the home router to forward the listening port (UPnP IGD, `@libp2p/upnp-nat`): `false` (default), or where
   * the router's descriptor is (`{}`: search the LAN by SSDP multicast). The mapped address is shared once AutoNAT
   * verified it.
   */
  upnp: false | { gateways?: string[] }
}

export interface DaemonConfig {
  dataDir: string
  listen: string[]
  /** Addresses to tell peers instead of the listening ones (a public node that knows its own). Default none. */
  announce: string[]
  bootstrap: string[]
  mdns: boolean
  /** Sell compute (advertise an offer). A node that only rents sets this false. */
  sell: boolean
  offer: SellConfig
  pay: PayConfig
  compute: {
    /** Serve inference without a lease: for a LAN you trust, or tests. */
    freeMode: boolean
  }
  reach: ReachConfig
  /**
   * Also advertise on the public IPFS DHT (Amino, `/ipfs/kad/1.0.0`) beside parkbench's own. Undefined (the
   * default): parkbench's DHT only. See docs/amino.md.
   */
  amino?: AminoInit | undefined
  /** When to sell (load, power, schedule, daily cap); undefined: whenever the daemon runs and is not paused. */
  policy?: ResourcePolicyConfig | undefined
}

/** What a config file or the CLI may set: the same shape, every field optional, amounts as decimal strings. */
export interface ConfigInput {
  listen?: string[]
  announce?: string[]
  bootstrap?: string[]
  mdns?: boolean
  sell?: boolean
  offer?: {
    pricePerSecond?: string | number
    threads?: number
    memoryBytes?: string | number
    maxLeaseSeconds?: number
    region?: string
  }
  pay?: {
    token?: string
    settleThreshold?: string | number
    minChallengePeriod?: string | number
  }
  compute?: { freeMode?: boolean }
  reach?: {
    relay?: boolean
    reservations?: number
    relayServer?: boolean
    /** Numbers; `bytes` may be a decimal string. */
    relayLimits?: { [K in keyof RelayServerLimits]?: number | string }
    privateAfterMs?: number
    autonat?: boolean
    dialPort?: number | 'auto'
    holePunch?: boolean
    /** `true` to ask the router for a port mapping by UPnP (searching the LAN), or the router's descriptor URLs. */
    upnp?: boolean | { gateways?: string[] }
  }
  /** `true` for the public Amino DHT with its defaults, or its settings (`false` or absent: off). */
  amino?: boolean | { bootstrap?: string[]; server?: boolean | 'auto'; addressScope?: 'public' | 'all' }
  policy?: ResourcePolicyInput
}

export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/0']

/** A price that makes a demo visibly earn without a faucet: 1 gwei per second. */
export const DEFAULT_PRICE_PER_SECOND = 1_000_000_000n

/** Read `<dataDir>/config.json` if it exists. */
export async function readConfigFile(dataDir: string): Promise<ConfigInput> {
  const file = join(dataDir, CONFIG_FILE)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw err
  }
  try {
    const parsed = JSON.parse(text) as unknown
    if (typeof parsed !== 'object' || parsed == null || Array.isArray(parsed)) throw new Error('not an object')
    return parsed as ConfigInput
  } catch (err) {
    throw new InvalidInputError(`${file} is not a JSON object: ${(err as Error).message}`, { cause: err })
  }
}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/

function toBigint(value: string | number | undefined, field: string, fallback: bigint): bigint {
  if (value == null) return fallback
  if (typeof value === 'number' ? !Number.isSafeInteger(value) || value < 0 : !/^\d+$/.test(value)) {
    throw new InvalidInputError(`${field} must be a non-negative whole number`)
  }
  return BigInt(value)
}

function toPositiveInt(value: number | undefined, field: string, fallback: number): number {
  if (value == null) return fallback
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new InvalidInputError(`${field} must be a positive whole number`)
  return value
}

function toAddress(value: string | undefined, field: string): Address | undefined {
  if (value == null || value === '') return undefined
  if (!ADDRESS.test(value)) throw new InvalidInputError(`${field} must be a 0x-prefixed 20-byte address`)
  return value as Address
}

/**
 * One commitment covers at most this many seconds (at 1 s ticks): its tick proof must settle within a bounded gas
 * (MAX_PROOF_TICKS). A lease runs longer by renewing.
 */
export const MAX_LEASE_SECONDS = Number(MAX_PROOF_TICKS)

function maxLeaseSeconds(value: number | undefined): number {
  const seconds = toPositiveInt(value, 'offer.maxLeaseSeconds', 600)
  if (seconds > MAX_LEASE_SECONDS) {
    throw new InvalidInputError(
      `offer.maxLeaseSeconds is at most ${MAX_LEASE_SECONDS}: a commitment's tick proof must fit a bounded gas (leases renew to run longer)`,
    )
  }
  return seconds
}

/**
 * Merge config layers (file first, then CLI flags) over the defaults and validate them. Throws
 * {@link InvalidInputError} naming the first bad field.
 */
export function resolveConfig(dataDir: string, ...layers: ConfigInput[]): DaemonConfig {
  const merged: ConfigInput = {}
  for (const layer of layers) {
    Object.assign(merged, {
      ...layer,
      offer: { ...merged.offer, ...layer.offer },
      pay: { ...merged.pay, ...layer.pay },
      compute: { ...merged.compute, ...layer.compute },
      reach: { ...merged.reach, ...layer.reach },
      ...(merged.policy != null || layer.policy != null ? { policy: { ...merged.policy, ...layer.policy } } : {}),
    })
  }
  const offer = merged.offer ?? {}
  const pay = merged.pay ?? {}
  return {
    dataDir,
    listen: merged.listen ?? DEFAULT_LISTEN,
    announce: merged.announce ?? [],
    bootstrap: merged.bootstrap ?? [],
    mdns: merged.mdns ?? false,
    sell: merged.sell ?? true,
    offer: {
      pricePerSecond: toBigint(offer.pricePerSecond, 'offer.pricePerSecond', DEFAULT_PRICE_PER_SECOND),
      threads: toPositiveInt(offer.threads, 'offer.threads', Math.max(1, availableParallelism() - 1)),
      memoryBytes: toBigint(offer.memoryBytes, 'offer.memoryBytes', BigInt(Math.floor(totalmem() / 2))),
      maxLeaseSeconds: maxLeaseSeconds(offer.maxLeaseSeconds),
      region: offer.region,
    },
    pay: {
      token: toAddress(pay.token, 'pay.token'),
      settleThreshold:
        pay.settleThreshold == null ? undefined : toBigint(pay.settleThreshold, 'pay.settleThreshold', 0n),
      minChallengePeriod:
        pay.minChallengePeriod == null ? undefined : toBigint(pay.minChallengePeriod, 'pay.minChallengePeriod', 0n),
    },
    compute: { freeMode: merged.compute?.freeMode ?? false },
    policy: resolvePolicy(merged.policy),
    reach: reachConfig(merged.reach ?? {}),
    amino: aminoConfig(merged.amino),
  }
}

function aminoConfig(amino: ConfigInput['amino']): AminoInit | undefined {
  if (amino == null || amino === false) return undefined
  if (amino === true) return {}
  if (typeof amino !== 'object' || Array.isArray(amino))
    throw new InvalidInputError('amino must be true, false or an object')
  if (amino.server != null && amino.server !== true && amino.server !== false && amino.server !== 'auto') {
    throw new InvalidInputError('amino.server must be true, false or "auto"')
  }
  if (amino.addressScope != null && amino.addressScope !== 'public' && amino.addressScope !== 'all') {
    throw new InvalidInputError('amino.addressScope must be "public" or "all"')
  }
  if (
    amino.bootstrap != null &&
    (!Array.isArray(amino.bootstrap) || amino.bootstrap.some((a) => typeof a !== 'string'))
  ) {
    throw new InvalidInputError('amino.bootstrap must be a list of multiaddrs')
  }
  return {
    ...(amino.bootstrap != null && amino.bootstrap.length > 0 ? { bootstrap: amino.bootstrap } : {}),
    ...(amino.server != null ? { server: amino.server } : {}),
    ...(amino.addressScope != null ? { addressScope: amino.addressScope } : {}),
  }
}

function reachConfig(reach: NonNullable<ConfigInput['reach']>): ReachConfig {
  const reservations = reach.reservations ?? 2
  if (!Number.isSafeInteger(reservations) || reservations < 0 || reservations > 8) {
    throw new InvalidInputError('reach.reservations must be a whole number from 0 to 8')
  }
  return {
    relay: reach.relay ?? true,
    reservations,
    relayServer: reach.relayServer ?? false,
    relayLimits: relayLimits(reach.relayLimits ?? {}),
    privateAfterMs: toPositiveInt(reach.privateAfterMs, 'reach.privateAfterMs', 30_000),
    autonat: reach.autonat ?? true,
    dialPort: dialPortConfig(reach.dialPort),
    holePunch: reach.holePunch ?? true,
    upnp: upnpConfig(reach.upnp),
  }
}

function upnpConfig(value: NonNullable<ConfigInput['reach']>['upnp']): ReachConfig['upnp'] {
  if (value === undefined || value === false) return false
  if (value === true) return {}
  if (typeof value !== 'object' || value === null) {
    throw new InvalidInputError('reach.upnp must be true, false or { "gateways": ["http://..."] }')
  }
  const gateways = value.gateways ?? []
  if (!Array.isArray(gateways) || gateways.length > 8) {
    throw new InvalidInputError('reach.upnp.gateways must be a list of at most 8 URLs')
  }
  for (const url of gateways) {
    let parsed: URL | undefined
    try {
      parsed = new URL(String(url))
    } catch {}
    if (parsed === undefined || parsed.protocol !== 'http:') {
      throw new InvalidInputError(
        `reach.upnp.gateways: ${String(url)} is not the http:// URL of a UPnP descriptor (e.g. http://192.168.1.1:5000/rootDesc.xml)`,
      )
    }
  }
  return gateways.length > 0 ? { gateways: gateways.map(String) } : {}
}

function dialPortConfig(value: number | 'auto' | undefined): number | 'auto' {
  if (value === undefined || value === 'auto') return 'auto'
  if (!Number.isSafeInteger(value) || value < 0 || value > 65535) {
    throw new InvalidInputError('reach.dialPort must be "auto" or a port number from 0 (off) to 65535')
  }
  return value
}

const RELAY_LIMIT_FIELDS = [
  'maxReservations',
  'reservationTtlMs',
  'maxConnectionsPerDialer',
  'maxConnectionsPerTarget',
  'durationMs',
] as const

function relayLimits(input: NonNullable<NonNullable<ConfigInput['reach']>['relayLimits']>): Partial<RelayServerLimits> {
  const out: Partial<RelayServerLimits> = {}
  for (const field of RELAY_LIMIT_FIELDS) {
    const value = input[field]
    if (value !== undefined) out[field] = toPositiveInt(Number(value), `reach.relayLimits.${field}`, 1)
  }
  if (input.bytes !== undefined) {
    const bytes = toBigint(input.bytes, 'reach.relayLimits.bytes', 0n)
    if (bytes === 0n) throw new InvalidInputError('reach.relayLimits.bytes must be positive')
    out.bytes = bytes
  }
  return out
}
