import { protocolId } from '../net/constants.js'

/** One stream per lease: negotiation, then ticks and acks, then the end. */
export const LEASE_PROTOCOL = protocolId('lease', '1.0.0')

/** Limits of the lease protocol; also in protocols/README.md. */
export const LEASE_LIMITS = {
  /** Any one lease frame; a commitment or voucher is a few hundred bytes. */
  maxMessageBytes: 4096,
  /**
   * Bytes a renter may send ahead of the provider's reading (pbStream's default is 4 MiB). A renter sends a frame
   * or two per tick, each read as it comes; past this the stream is reset.
   */
  maxBufferedBytes: 64 * 1024,
  /** Models named in one request. */
  maxModels: 16,
  /** The renter has this long to send its request once the stream is open. */
  requestTimeoutMs: 5_000,
  /** How long a quote stays valid. */
  quoteTtlMs: 10_000,
  /** Lease streams per connection (a renter holds one per lease). */
  maxInboundStreams: 8,
  /**
   * Leases being negotiated (request read, not yet started) at once from one peer, and from all peers. A quote
   * reserves nothing: threads and the channel are taken only on a valid, signed ACCEPT, so a stranger cannot hold
   * them; these caps bound the work (and chain reads) strangers can make a provider do.
   */
  maxNegotiationsPerPeer: 2,
  maxNegotiations: 32,
} as const

/** Metering defaults. */
export const LEASE_DEFAULTS = {
  tickIntervalMs: 1_000,
  /**
   * A tick may be this late before the lease ends PAYMENT_LATE (serving stops at the paid boundary itself). The
   * renter likewise waits this long for a tick's acknowledgement before it stops paying.
   */
  graceMs: 500,
  /**
   * The renter sends a cumulative voucher at least every this many ticks (told in the quote); a lease whose voucher
   * is `VOUCHER_SLACK_TICKS` later than that ends PAYMENT_LATE. A voucher settles for ~52,500 gas however long the
   * lease ran.
   */
  voucherEveryTicks: 60,
} as const

/** Ticks a voucher may be late (it crosses ticks in flight) before the lease ends. */
export const VOUCHER_SLACK_TICKS = 2

/** Domain separation for quote signatures. */
export const QUOTE_SIGNATURE_DOMAIN = new TextEncoder().encode('parkbench/quote/1')
