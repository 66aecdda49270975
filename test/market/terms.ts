import { createHash } from 'node:crypto'
import type { ModelSpec, OfferTerms } from '../../src/market/index.js'

/** Offer terms for a test provider; the addresses are arbitrary but well-formed. */
export function testTerms(pricePerSecond: bigint, models: ModelSpec[] = []): OfferTerms {
  return {
    payoutAddress: '0x1111111111111111111111111111111111111111',
    chainId: 31337n,
    channelContract: '0x2222222222222222222222222222222222222222',
    tokenSymbol: 'ETH',
    pricePerSecond,
    threads: 2,
    memoryBytes: 1n << 30n,
    maxLeaseSeconds: 600,
    region: 'test',
    models,
  }
}

/** A model entry whose hash is the sha256 of `name` (the market never reads model bytes). */
export function testModel(name: string): ModelSpec & { hex: string } {
  const digest = createHash('sha256').update(name).digest()
  return {
    sha256: Uint8Array.from(digest),
    name,
    inputs: [{ name: 'x', dtype: 'float32', dims: [1n, -1n] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [1n, 10n] }],
    sizeBytes: 1234n,
    hex: digest.toString('hex'),
  }
}
