import type { Address, Hex } from 'viem'
import type { RenterLeaseSummary } from '../lease/renter-lease.js'

/**
 * What the renter client reports as it works: one typed event union, `type` as `<area>:<what>`. Every call that
 * does such work takes `onProgress` for its own events (helia's convention); `ClientInit.onEvent` sees every
 * event, including those no call is waiting on (a lease ended by the provider, or for idleness).
 */
export type ClientProgressEvent =
  | { type: 'discovery:found'; offers: number; cached: boolean }
  | { type: 'channel:opening'; payoutAddress: Address; deposit: bigint }
  | { type: 'channel:opened'; payoutAddress: Address; channelId: Hex; deposit: bigint; transactionHash: Hex }
  | { type: 'lease:started'; providerPeer: string; leaseId: Hex; pricePerSecond: bigint; channelId: Hex }
  | { type: 'lease:failed'; providerPeer: string; error: string }
  | { type: 'lease:ended'; summary: RenterLeaseSummary }
  | { type: 'model:pushing'; providerPeer: string; sha256: string; bytes: number; totalBytes: number }
  | { type: 'model:pushed'; providerPeer: string; sha256: string }
  | { type: 'failover'; from: string; error: string }
  /** A job is sent on a lease (new or reused): what lets a caller attribute that lease's ticks to its jobs. */
  | { type: 'job:started'; providerPeer: string; leaseId: Hex }
  /** One line the user should know (e.g. the chain was reset since payment state was kept). */
  | { type: 'warning'; message: string }

/** Options of a client call that reports progress. */
export interface ProgressOptions {
  onProgress?: (event: ClientProgressEvent) => void
}
