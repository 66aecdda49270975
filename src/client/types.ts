import type { AbortOptions } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Address, Hex, LocalAccount } from 'viem'
import type { InferResult } from '../compute/infer.js'
import type { TensorData, TensorLike } from '../compute/tensor.js'
import type { RenterLeaseSummary } from '../lease/renter-lease.js'
import type { AminoInit } from '../net/amino.js'
import type { ParkbenchNode } from '../net/create-node.js'
import type { ChainConfig } from '../pay/chain-config.js'
import type { ClientProgressEvent, ProgressOptions } from './events.js'

export interface ClientInit {
  dataDir: string
  /**
   * The chain to pay on. With `account`: rents paid compute. Alone: finds offers and says which are payable, but
   * pays nothing. Without either: only free providers (`inferUnpaid`).
   */
  chain?: ChainConfig | undefined
  /** The renter's EVM account: funds channels and signs commitments and vouchers. */
  account?: LocalAccount | undefined
  /** Peers to join through. */
  bootstrap?: string[]
  /** Find peers on the LAN by mDNS (multicast). */
  mdns?: boolean
  /**
   * Also look providers up on the public IPFS DHT (Amino, `/ipfs/kad/1.0.0`), as a DHT client; offers found there
   * are fetched and verified like any other. Off by default. See docs/amino.md.
   */
  amino?: AminoInit
  /** An existing node to use instead of starting one. */
  node?: ParkbenchNode
  /**
   * Reach providers behind NATs through their relayed (`/p2p-circuit`) addresses, and let DCUtR upgrade such a
   * connection to a direct one when it can. Default true.
   */
  relay?: boolean
  /** Pay in this ERC-20 instead of the native coin. */
  token?: Address
  /** Seconds per lease commitment (renewed while in use). Default 60. */
  leaseSeconds?: number
  /** End an automatic lease after this long without jobs. Default 10 s. */
  idleMs?: number
  /** Deposit of a new channel. Default: 10 commitments at the price ceiling. */
  deposit?: bigint
  /** Only providers at most this far away, in ms. */
  maxRttMs?: number
  /** Providers tried per request before giving up. Default 3. */
  maxAttempts?: number
  /** How long discovered offers are reused (never past an offer's expiry). Default 30 s; 0 asks every time. */
  offerCacheMs?: number
  /** How long to keep looking when discovery finds no provider. Default 3 s. */
  discoveryTimeoutMs?: number
  /**
   * How long a lookup waits for better offers once the first usable one is in (at least as long again as the first
   * took), before it ranks what it has and stops asking. Default 500 ms; `Infinity` waits for the whole DHT query (up to 3 s).
   */
  discoverySettleMs?: number
  /** Every event the client reports, including leases that end on their own (idle, ended by the provider). */
  onEvent?(event: ClientProgressEvent): void
}

export interface ClientInferParameters {
  /** The model: a path to an .onnx file, its bytes, or its sha256 (hex) if providers already hold it. */
  model: string | Uint8Array
  inputs: Record<string, TensorLike | TensorData>
  outputNames?: string[]
  /** The most the renter pays per second of lease. */
  maxPricePerSecond: bigint
  /** Only this provider (a multiaddr ending in /p2p/<id>), no failover. */
  provider?: Multiaddr
}

export interface ClientLeaseParameters {
  maxPricePerSecond: bigint
  /** The model the lease is for (path, bytes or sha256); pushed once the lease starts if the provider lacks it. */
  model?: string | Uint8Array
  /** Lease from this provider (a multiaddr ending in /p2p/<id>) instead of the best one discovered. */
  provider?: Multiaddr
}

export interface ClientInferResult extends InferResult {
  /** The provider's peer id. */
  providerPeer: string
  leaseId: Hex
}

/** A lease taken with `client.lease()`: jobs go to its provider only, and it lasts until `end()`. */
export interface ClientLease {
  readonly leaseId: Hex
  readonly providerPeer: string
  readonly pricePerSecond: bigint
  readonly active: boolean
  /** Resolves with the summary once the lease has ended, whoever ended it. */
  readonly ended: Promise<RenterLeaseSummary>
  infer(
    params: Pick<ClientInferParameters, 'inputs' | 'outputNames'> & { model?: string | Uint8Array },
    options?: AbortOptions & ProgressOptions,
  ): Promise<ClientInferResult>
  /** Stop paying: send the final voucher and end the lease. */
  end(): Promise<RenterLeaseSummary>
  summary(): RenterLeaseSummary
}
