import type { PeerId, PrivateKey } from '@libp2p/interface'
import { QUOTE_SIGNATURE_DOMAIN } from './constants.js'
import { InvalidQuoteError } from './errors.js'
import { Quote } from './pb/lease.js'

export { Quote } from './pb/lease.js'

function signedBytes(quote: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(QUOTE_SIGNATURE_DOMAIN.length + quote.length)
  bytes.set(QUOTE_SIGNATURE_DOMAIN)
  bytes.set(quote, QUOTE_SIGNATURE_DOMAIN.length)
  return bytes
}

/** Encode and sign a quote with the provider's peer key: the renter can prove the price it was offered. */
export async function signQuote(
  privateKey: PrivateKey,
  quote: Quote,
): Promise<{ quote: Uint8Array<ArrayBuffer>; signature: Uint8Array<ArrayBuffer> }> {
  const bytes = Quote.encode(quote)
  return { quote: bytes, signature: Uint8Array.from(await privateKey.sign(signedBytes(bytes))) }
}

/** Decode a quote and check it is signed by `provider`; throws {@link InvalidQuoteError}. */
export async function verifyQuote(provider: PeerId, bytes: Uint8Array, signature: Uint8Array): Promise<Quote> {
  let quote: Quote
  try {
    quote = Quote.decode(bytes)
  } catch (err) {
    throw new InvalidQuoteError(`Quote does not decode: ${(err as Error).message}`, { cause: err })
  }
  if (provider.publicKey == null || !(await provider.publicKey.verify(signedBytes(bytes), signature))) {
    throw new InvalidQuoteError('Quote signature does not verify against the provider')
  }
  return quote
}
