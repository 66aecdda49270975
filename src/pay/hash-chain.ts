import { createHash, randomBytes } from 'node:crypto'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { bytesToHex, type Hex } from 'viem'
import type { HashFunctionName } from './types.js'

/** Bytes of one chain element. */
export const CHAIN_ELEMENT_BYTES = 32

/** One step of the chain: H(value), 32 bytes in, 32 bytes out. */
export function hashStep(hashFunction: HashFunctionName, value: Uint8Array): Uint8Array {
  // node:crypto has no keccak-256 (its sha3-256 pads differently), so keccak comes from @noble/hashes.
  return hashFunction === 'keccak256' ? keccak_256(value) : createHash('sha256').update(value).digest()
}

/** H applied `times` times (what the contract does to reach the tip from the k-th preimage). */
export function hashRepeated(hashFunction: HashFunctionName, value: Uint8Array, times: number): Uint8Array {
  let out = value
  for (let i = 0; i < times; i++) out = hashStep(hashFunction, out)
  return out
}

/** True if two 32-byte values are equal. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** The provider's check of one tick: one hash of the revealed value must give the last accepted one. */
export function verifyTickPreimage(hashFunction: HashFunctionName, preimage: Uint8Array, last: Uint8Array): boolean {
  return preimage.length === CHAIN_ELEMENT_BYTES && equalBytes(hashStep(hashFunction, preimage), last)
}

/**
 * A PayWord chain: h_0 = random seed, h_i = H(h_{i-1}), tip = h_n. Tick k reveals h_{n-k}. All elements are kept
 * (32 bytes each: an hour of ticks is 115 KB) so each tick is a lookup, not n - k hashes.
 */
export class HashChain {
  readonly hashFunction: HashFunctionName
  readonly length: number
  private readonly elements: Uint8Array

  constructor(hashFunction: HashFunctionName, length: number, seed: Uint8Array = randomBytes(CHAIN_ELEMENT_BYTES)) {
    if (!Number.isInteger(length) || length < 1) throw new RangeError('chain length must be a positive integer')
    if (seed.length !== CHAIN_ELEMENT_BYTES) throw new RangeError('seed must be 32 bytes')
    this.hashFunction = hashFunction
    this.length = length
    this.elements = new Uint8Array(CHAIN_ELEMENT_BYTES * (length + 1))
    this.elements.set(seed, 0)
    for (let i = 1; i <= length; i++) {
      const prev = this.elements.subarray((i - 1) * CHAIN_ELEMENT_BYTES, i * CHAIN_ELEMENT_BYTES)
      this.elements.set(hashStep(hashFunction, prev), i * CHAIN_ELEMENT_BYTES)
    }
  }

  /** h_n, the value the renter signs in its commitment. */
  get tip(): Hex {
    return bytesToHex(this.element(this.length))
  }

  /** h_i. */
  element(i: number): Uint8Array {
    if (!Number.isInteger(i) || i < 0 || i > this.length) throw new RangeError(`no chain element ${i}`)
    return this.elements.slice(i * CHAIN_ELEMENT_BYTES, (i + 1) * CHAIN_ELEMENT_BYTES)
  }

  /** The preimage tick k (1..n) reveals: h_{n-k}. */
  preimage(k: number): Uint8Array {
    if (!Number.isInteger(k) || k < 1 || k > this.length) throw new RangeError(`tick ${k} is outside 1..${this.length}`)
    return this.element(this.length - k)
  }
}
