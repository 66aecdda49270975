/**
 * @packageDocumentation
 *
 * Leases: a renter rents a provider's threads for seconds to minutes on `/parkbench/lease/1.0.0`, paying one tick
 * ahead every second over its payment channel; the provider serves jobs only while the lease is paid up.
 *
 * Provider:
 * ```ts
 * const leases = createLeaseProvider({ node, privateKey, receiver, channels, models: compute.store },
 *   { payoutAddress, pricePerSecond: 10n ** 9n, threads: 4, maxLeaseSeconds: 600 })
 * await leases.start()
 * const compute = createCompute(node, { dataDir, admit: leases.admit })
 * ```
 *
 * Renter:
 * ```ts
 * const lease = await openLease({ node, sender }, { provider, providerPeerId, channelId, maxPricePerSecond, seconds: 60 })
 * await lease.waitPaidUp()
 * // ... infer(...) ...
 * console.log(await lease.end())
 * ```
 */
export { LEASE_DEFAULTS, LEASE_LIMITS, LEASE_PROTOCOL, QUOTE_SIGNATURE_DOMAIN } from './constants.js'
export * from './errors.js'
export {
  createLeaseProvider,
  type LeasePause,
  LeaseProvider,
  type LeaseProviderComponents,
  type LeaseProviderEvent,
  type LeaseProviderInit,
} from './lease-provider.js'
export { endReasonName } from './messages.js'
export type { LeaseInfo, MeteredLease, MeteringTerms } from './metered-lease.js'
export {
  amountPerTick,
  costOfTicks,
  isPaidUp,
  isVoucherOverdue,
  isWholeAmountPerTick,
  msUntilLate,
  msUntilNextTick,
  paidUntilMs,
  TICK_LEAD_MS,
  tickLeadMs,
  ticksIn,
  ticksSinceVoucherAfter,
} from './metering.js'
export { EndReason, LeaseReply, LeaseRequest, LeaseStatus, ProviderMessage, RenterMessage } from './pb/lease.js'
export { Quote, signQuote, verifyQuote } from './quote.js'
export {
  type OpenLeaseParameters,
  openLease,
  RenterLease,
  type RenterLeaseComponents,
  type RenterLeaseSummary,
} from './renter-lease.js'
