/**
 * @packageDocumentation
 *
 * The market: providers sign offers (price per second, cores, memory, models) and advertise them on the DHT;
 * clients find providers for a runtime or a model, fetch and verify their offers, and rank them by price and RTT.
 *
 * ```ts
 * // provider
 * const market = createMarketProvider({ node, privateKey })
 * await market.start()
 * await market.setTerms({ pricePerSecond: 1000n, models: [...], ... })
 *
 * // client
 * const ranked = await findOffers({ node }, { model: sha256Hex, maxRttMs: 50 })
 * ```
 */
export {
  isSha256Hex,
  keyToCid,
  modelKey,
  ONNX_CPU_RUNTIME,
  runtimeKey,
} from './capability-keys.js'
export { OFFER_PROTOCOL, OFFER_PROTOCOL_LIMITS } from './constants.js'
export {
  type DiscoverComponents,
  type DiscoveredOffer,
  type DiscoverQuery,
  discoverOffers,
  fetchOffer,
  findOffers,
  peerIdOfAddress,
} from './discover.js'
export * from './errors.js'
export {
  type Address,
  createMarketProvider,
  MarketProvider,
  type MarketProviderComponents,
  type MarketProviderInit,
  type OfferTerms,
} from './market-provider.js'
export {
  OFFER_LIMITS,
  OFFER_SIGNATURE_DOMAIN,
  type OfferSummary,
  signOffer,
  summarizeOffer,
  type VerifiedOffer,
  type VerifyOfferOptions,
  verifySignedOffer,
} from './offer.js'
export { OfferBook } from './offer-book.js'
export { checkOfferable, checkRoom, OFFER_CATALOG, OFFERABLE_LIMITS, offerEntryBytes } from './offerable.js'
export type { ModelSpec, Offer, SignedOffer, TensorSpec } from './pb/market.js'
export { compareRanked, DEFAULT_RTT_WEIGHT_MS, scoreOffer } from './rank.js'
export { DEFAULT_RTT_MAX_AGE_MS, RttBook } from './rtt-book.js'
