/**
 * @packageDocumentation
 *
 * The renter SDK: rent inference from a device nearby and pay by the second.
 *
 * ```ts
 * const client = await createClient({ dataDir, chain: await loadChainConfig({ dataDir }), account, bootstrap })
 * const { outputs, providerPeer } = await client.infer({ model: 'det.onnx', inputs: { x }, maxPricePerSecond: 10n ** 10n })
 *
 * // Or hold a lease yourself: jobs go to that provider only, until you end it
 * const lease = await client.lease({ model: 'det.onnx', maxPricePerSecond: 10n ** 10n })
 * await lease.infer({ inputs: { x } })
 * const { amountPaid } = await lease.end()
 * await client.close()
 * ```
 *
 * Parts: {@link ProviderFinder} (discovery, offer cache, back-off), {@link ChannelBook} (the renter's channels and
 * pending opens in `channels.json`), {@link LeaseRegistry} (leases held, each end recorded once).
 */

export { type AcquireOptions, ChannelBook, type ChannelProvider, RENTER_CHANNELS_FILE } from './channel-book.js'
export { checkInputs, type Signature } from './check-inputs.js'
export { createClient, RENTER_STORE_DIR, RenterClient } from './client.js'
export * from './errors.js'
export type { ClientProgressEvent, ProgressOptions } from './events.js'
export { LeaseMaker, type LeaseMakerComponents, type LeaseMakerInit, type LeaseWant } from './lease-maker.js'
export { type HeldLease, LeaseRegistry } from './lease-registry.js'
export { type ResolvedModel, resolveModel } from './model.js'
export { FAILED_PROVIDER_BACKOFF_MS, ProviderFinder, type ProviderFinderInit } from './provider-finder.js'
export type {
  ClientInferParameters,
  ClientInferResult,
  ClientInit,
  ClientLease,
  ClientLeaseParameters,
} from './types.js'
