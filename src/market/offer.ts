import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import { InvalidOfferError, OfferExpiredError, OfferPeerMismatchError, OfferSignatureError } from './errors.js'
import { ModelSpec, Offer, type SignedOffer, type TensorSpec } from './pb/market.js'

export { Offer, SignedOffer } from './pb/market.js'

/** Domain separation: an offer signature can never be replayed as a signature over anything else. */
export const OFFER_SIGNATURE_DOMAIN = new TextEncoder().encode('parkbench/offer/1')

/**
 * Bounds on what an offer may hold; larger ones are refused as {@link InvalidOfferError}. A provider leaves out of its
 * offer any model past them ({@link fitOfferModels}), so one odd model never makes the whole offer unverifiable.
 */
export const OFFER_LIMITS = {
  /** Encoded SignedOffer, bytes. */
  maxBytes: 256 * 1024,
  maxModels: 256,
  maxTensorsPerModel: 64,
  /**
   * Dims of one input or output's shape in an offer: the rank compute accepts for an inference tensor today (32,
   * `MAX_TENSOR_RANK` in src/compute/tensor.ts), so every model a provider can serve can be advertised.
   */
  maxDims: 32,
  /** An offer may not claim to be valid for longer than this, so a leaked one cannot live for ever. */
  maxTtlMs: 24 * 3600 * 1000,
} as const

/** Room the signature and SignedOffer framing take beyond the encoded Offer (64 + a few bytes). */
const SIGNED_OVERHEAD_BYTES = 128

/** Why a model was left out of an offer. */
export interface LeftOutModel {
  name: string
  reason: string
}

/**
 * The models an offer can carry, in order: each within {@link OFFER_LIMITS} (32-byte hash, at most 64 inputs and
 * 64 outputs, at most 32 dims each), at most 256 of them, and all together within the offer's byte limit once
 * `offer` (the rest of it) is added. Returns the rest as left out, with why.
 */
export function fitOfferModels(
  models: ModelSpec[],
  offer: Omit<Offer, 'models'>,
): { models: ModelSpec[]; leftOut: LeftOutModel[] } {
  const kept: ModelSpec[] = []
  const leftOut: LeftOutModel[] = []
  const tensors = (m: ModelSpec): TensorSpec[] => [...m.inputs, ...m.outputs]
  let bytes = Offer.encode({ ...offer, models: [] }).length + SIGNED_OVERHEAD_BYTES
  for (const model of models) {
    const leave = (reason: string): void => void leftOut.push({ name: model.name, reason })
    if (model.sha256.length !== 32) leave('its hash is not 32 bytes')
    else if (Math.max(model.inputs.length, model.outputs.length) > OFFER_LIMITS.maxTensorsPerModel) {
      leave(`more than ${OFFER_LIMITS.maxTensorsPerModel} inputs or outputs`)
    } else if (tensors(model).some((t) => t.dims.length > OFFER_LIMITS.maxDims)) {
      leave(`a shape of more than ${OFFER_LIMITS.maxDims} dims`)
    } else if (kept.length >= OFFER_LIMITS.maxModels) leave(`more than ${OFFER_LIMITS.maxModels} models`)
    else {
      // Each repeated field costs its bytes plus a tag and a length prefix of at most 5 bytes.
      const size = ModelSpec.encode(model).length + 6
      if (bytes + size > OFFER_LIMITS.maxBytes) leave(`the offer would be over ${OFFER_LIMITS.maxBytes} bytes`)
      else {
        bytes += size
        kept.push(model)
      }
    }
  }
  return { models: kept, leftOut }
}

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
