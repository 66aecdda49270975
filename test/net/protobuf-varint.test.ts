import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Quote } from '../../src/lease/pb/lease.js'
import { ModelSpec, Offer } from '../../src/market/pb/market.js'

// protons-runtime 7 mis-encodes 64-bit varints in [2^31, 2^32); scripts/generate-protos.mjs routes those writes
// through the uint32 writer. These values are everyday ones: 3 gwei per second, 3 GB of memory.
const BOUNDARY = [
  0n,
  1n,
  2n ** 31n - 1n,
  2n ** 31n,
  3_000_000_000n,
  2n ** 32n - 1n,
  2n ** 32n,
  2n ** 53n + 7n,
  2n ** 64n - 1n,
]

describe('64-bit protobuf fields', () => {
  it('round-trip every value, including [2^31, 2^32), without corrupting the fields after them', () => {
    for (const value of BOUNDARY) {
      const quote = Quote.decode(
        Quote.encode({
          pricePerSecond: value,
          tickIntervalMs: 1000,
          amountPerTick: value,
          expiresAtMs: value,
          threads: 3,
        }),
      )
      assert.equal(quote.pricePerSecond, value)
      assert.equal(quote.amountPerTick, value)
      assert.equal(quote.expiresAtMs, value)
      assert.equal(quote.tickIntervalMs, 1000)
      assert.equal(quote.threads, 3)

      const offer = Offer.decode(
        Offer.encode({ memoryBytes: value, pricePerSecond: value, region: 'after', sequence: value }),
      )
      assert.deepEqual(
        [offer.memoryBytes, offer.pricePerSecond, offer.sequence, offer.region],
        [value, value, value, 'after'],
      )
    }
  })

  it('round-trip signed dims (sint64), negative and large', () => {
    for (const dim of [-1n, 0n, 3n, 2n ** 30n, -(2n ** 30n), 2n ** 31n, -(2n ** 31n) - 1n, 2n ** 40n]) {
      const spec = ModelSpec.decode(
        ModelSpec.encode({ name: 'm', inputs: [{ name: 'x', dtype: 'float32', dims: [dim, 7n] }] }),
      )
      assert.deepEqual(spec.inputs[0]!.dims, [dim, 7n])
    }
  })
})
