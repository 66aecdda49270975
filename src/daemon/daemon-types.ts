import type { LocalAccount } from 'viem'
import type { WorkerPool } from '../compute/worker-pool.js'
import type { LeaseInfo } from '../lease/metered-lease.js'
import type { OfferSummary } from '../market/offer.js'
import type { NodeInit } from '../net/create-node.js'
import type { HolePunchStats } from '../net/hole-punch.js'
import type { ReachabilityStatus } from '../net/reachability.js'
import type { TokenUnits } from '../pay/amounts.js'
import type { ChainConfig } from '../pay/chain-config.js'
import type { SettlerEvent } from '../pay/settler.js'
import type { DaemonConfig } from './config.js'
import type { OwnerConsoleInit } from './console/owner-console.js'
import type { DaemonEarnings } from './earnings.js'
import type { DaemonLoad } from './load-monitor.js'
import type { PolicySensors } from './resource-policy.js'
import type { PausedBy } from './selling.js'

/** The daemon's events: the settler's, a lease that ended, and warnings. */
export type DaemonEvent =
  | SettlerEvent
  | { type: 'lease:ended'; lease: LeaseInfo }
  | { type: 'warning'; message: string }
  | { type: 'reach:changed'; reach: ReachabilityStatus }

export interface DaemonInit {
  config: DaemonConfig
  /** The chain to be paid on; required to sell. */
  chain?: ChainConfig | undefined
  /** This node's EVM account: receives payouts and sends settlements. Required to sell. */
  account?: LocalAccount | undefined
  /**
   * What the daemon reports as it works: settlements confirmed or skipped (the settler's events), leases that end,
   * and one-line warnings for the operator (e.g. the chain was reset since payment state was kept).
   */
  onEvent?(event: DaemonEvent): void
  /**
   * Serve the control API (`parkbench leases`, `status`, `channel settle`) on `<dataDir>/control.sock`. Default
   * true.
   */
  control?: boolean
  /**
   * libp2p settings over the config's (the swarm lab passes its in-process transport and `/memory` addresses).
   * Default none.
   */
  node?: Omit<NodeInit, 'privateKey'> | undefined
  /** A worker pool shared with other daemons in this process; the daemon neither starts nor stops it. */
  workers?: WorkerPool | undefined
  /**
   * How often the data dir is scanned for models another process added (`parkbench model add`); 0 never (a caller
   * that adds models through {@link Daemon.compute} and calls {@link Daemon.syncModels}). Default 2000 ms.
   */
  modelRescanMs?: number
  /** How often the settler checks the chain (close requests, thresholds). Default 5000 ms. */
  settleIntervalMs?: number
  /**
   * Measure the process's event-loop delay for `status` (a 10 ms sampling timer). Default true; many daemons in one
   * process (the swarm lab) measure it once for all.
   */
  monitorLoad?: boolean
  /**
   * Serve the owner console and `/metrics` on loopback (`parkbench start` does, unless `--no-console`). It also turns
   * on the daemon's Prometheus metrics, libp2p's included. Default off: a library user or the swarm lab asks for it.
   */
  console?: Omit<OwnerConsoleInit, 'dataDir'> | undefined
  /** What the resource policy reads (load, power, the clock): Linux's by default; another OS or a test its own. */
  policySensors?: Partial<PolicySensors> | undefined
}

export interface DaemonStatus {
  peerId: string
  addresses: string[]
  selling: boolean
  /** Set while selling is paused (by the owner or the resource policy): the offer is withdrawn. */
  paused?: { by: PausedBy; detail: string }
  payoutAddress: string | undefined
  offer: OfferSummary | undefined
  load: DaemonLoad
  /** When selling: what it has earned. */
  earnings?: DaemonEarnings
  /** Whether the internet can reach this node, and the relays that carry it when not. */
  reach: ReachabilityStatus
  /** When a relay client: the addresses peers observed our dial port at, and hole punches tried and made. */
  holePunch?: HolePunchStatus
  /** When selling: the symbol and decimals of the token it is paid in (read from the chain), to show amounts. */
  tokenUnits?: TokenUnits
}

/** A daemon's hole punching, in its status (src/net/hole-punch.ts). */
export interface HolePunchStatus extends HolePunchStats {
  /** What peers saw our dial port as: the addresses a punch sends. Empty behind a NAT that changes ports. */
  observedAddresses: string[]
}
