import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import { InvalidOfferError, OfferExpiredError, OfferPeerMismatchError, OfferSignatureError } from './errors.js'
import { Offer, type SignedOffer } from './pb/market.js'

export { Offer, SignedOffer } from './pb/market.js'

/** Domain separation: an offer signature can never be replayed as a signature over anything else. */
export const OFFER_SIGNATURE_DOMAIN = new TextEncoder().encode('parkbench/offer/1')

/** Bounds on what an offer may hold; larger ones are refused as {@link InvalidOfferError}. */
export const OFFER_LIMITS = {
  /** Encoded SignedOffer, bytes. */
  maxBytes: 256 * 1024,
  maxModels: 256,
  maxTensorsPerModel: 64,
  maxDims: 16,
  /** An offer may not claim to be valid for longer than this, so a leaked one cannot live for ever. */
  maxTtlMs: 24 * 3600 * 1000,
} as const

function signedBytes(offerBytes: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(OFFER_SIGNATURE_DOMAIN.length + offerBytes.length)
  bytes.set(OFFER_SIGNATURE_DOMAIN)
  bytes.set(offerBytes, OFFER_SIGNATURE_DOMAIN.length)
  return bytes
}

/** Encode and sign an offer with the provider's peer key. */
export async function signOffer(privateKey: PrivateKey, offer: Offer): Promise<SignedOffer> {
  const bytes = Offer.encode(offer)
  const signature = await privateKey.sign(signedBytes(bytes))
  return { offer: bytes, signature: Uint8Array.from(signature) as Uint8Array<ArrayBuffer> }
}

export interface VerifyOfferOptions {
  /** The peer that served the offer; the offer must name it. */
  expectedPeer?: PeerId
  /** Unix ms; default Date.now(). */
  now?: number
}

export interface VerifiedOffer {
  peerId: PeerId
  offer: Offer
  /** The bytes and signature as received, for passing the proof on. */
  signed: SignedOffer
}

const ADDRESS_BYTES = 20

/**
 * Check a signed offer: it decodes within {@link OFFER_LIMITS}, names `expectedPeer`, is signed by that peer's
 * key, has well-formed addresses and has not expired. Throws a typed error for the first rule that fails.
 */
export async function verifySignedOffer(signed: SignedOffer, options: VerifyOfferOptions = {}): Promise<VerifiedOffer> {
  let offer: Offer
  try {
    offer = Offer.decode(signed.offer, {
      limits: {
        models: OFFER_LIMITS.maxModels,
        models$: {
          inputs: OFFER_LIMITS.maxTensorsPerModel,
          outputs: OFFER_LIMITS.maxTensorsPerModel,
          inputs$: { dims: OFFER_LIMITS.maxDims },
          outputs$: { dims: OFFER_LIMITS.maxDims },
        },
      },
    })
  } catch (err) {
    throw new InvalidOfferError(`Offer does not decode: ${(err as Error).message}`, { cause: err })
  }
  let peerId: PeerId
  try {
    peerId = peerIdFromMultihash(Digest.decode(offer.peerId))
  } catch (err) {
    throw new InvalidOfferError('Offer peer id is not a peer id', { cause: err })
  }
  if (options.expectedPeer != null && !peerId.equals(options.expectedPeer)) {
    throw new OfferPeerMismatchError(
      `Offer names ${peerId.toString()} but came from ${options.expectedPeer.toString()}`,
    )
  }
  if (peerId.publicKey == null) throw new InvalidOfferError('Offer peer id does not embed a public key')
  const valid = await peerId.publicKey.verify(signedBytes(signed.offer), signed.signature)
  if (!valid) throw new OfferSignatureError()
  if (offer.payoutAddress.length !== ADDRESS_BYTES) throw new InvalidOfferError('Payout address must be 20 bytes')
  if (offer.channelContract.length !== ADDRESS_BYTES) throw new InvalidOfferError('Channel contract must be 20 bytes')
  if (offer.token.length !== 0 && offer.token.length !== ADDRESS_BYTES) {
    throw new InvalidOfferError('Token must be empty (native coin) or a 20-byte address')
  }
  for (const model of offer.models) {
    if (model.sha256.length !== 32) throw new InvalidOfferError('Model hash must be 32 bytes of sha256')
  }
  const now = options.now ?? Date.now()
  if (offer.expiresAtMs <= BigInt(now)) throw new OfferExpiredError()
  if (offer.expiresAtMs > BigInt(now + OFFER_LIMITS.maxTtlMs)) {
    throw new InvalidOfferError('Offer claims a validity longer than 24 hours')
  }
  return { peerId, offer, signed }
}

/** A JSON-friendly view of an offer: hex strings for bytes, decimal strings for amounts. */
export interface OfferSummary {
  peerId: string
  runtime: string
  payoutAddress: string
  chainId: string
  channelContract: string
  token: string | null
  tokenSymbol: string
  pricePerSecond: string
  threads: number
  memoryBytes: string
  maxLeaseSeconds: number
  region: string
  sequence: string
  expiresAt: string
  models: Array<{
    sha256: string
    name: string
    sizeBytes: string
    inputs: Array<{ name: string; dtype: string; dims: number[] }>
    outputs: Array<{ name: string; dtype: string; dims: number[] }>
  }>
}

const hex = (bytes: Uint8Array): string => `0x${Buffer.from(bytes).toString('hex')}`

export function summarizeOffer(peerId: PeerId, offer: Offer): OfferSummary {
  const tensors = (list: Offer['models'][number]['inputs']): OfferSummary['models'][number]['inputs'] =>
    list.map((t) => ({ name: t.name, dtype: t.dtype, dims: t.dims.map(Number) }))
  return {
    peerId: peerId.toString(),
    runtime: offer.runtime,
    payoutAddress: hex(offer.payoutAddress),
    chainId: offer.chainId.toString(),
    channelContract: hex(offer.channelContract),
    token: offer.token.length === 0 ? null : hex(offer.token),
    tokenSymbol: offer.tokenSymbol,
    pricePerSecond: offer.pricePerSecond.toString(),
    threads: offer.threads,
    memoryBytes: offer.memoryBytes.toString(),
    maxLeaseSeconds: offer.maxLeaseSeconds,
    region: offer.region,
    sequence: offer.sequence.toString(),
    expiresAt: new Date(Number(offer.expiresAtMs)).toISOString(),
    models: offer.models.map((m) => ({
      sha256: Buffer.from(m.sha256).toString('hex'),
      name: m.name,
      sizeBytes: m.sizeBytes.toString(),
      inputs: tensors(m.inputs),
      outputs: tensors(m.outputs),
    })),
  }
}
