import { type Address, bytesToHex, getAddress, type Hex, hexToBytes as viemHexToBytes } from 'viem'
import { MAX_AMOUNT, MAX_TICKS } from './constants.js'
import { MalformedPaymentError } from './errors.js'
import * as pb from './pb/pay.js'
import type { HashFunctionName, SignedTickCommitment, Tick, TickCommitment, Voucher } from './types.js'

/** Largest encoded payment message (a signed commitment is ~330 bytes); the lease protocol bounds frames by it. */
export const MAX_PAYMENT_MESSAGE_BYTES = 1024

function hexToBytes(hex: Hex): Uint8Array<ArrayBuffer> {
  return new Uint8Array(viemHexToBytes(hex))
}

/** An amount as minimal unsigned big-endian bytes (0n is empty). */
export function amountToBytes(amount: bigint): Uint8Array<ArrayBuffer> {
  if (amount < 0n || amount > MAX_AMOUNT) throw new MalformedPaymentError('amount out of range')
  if (amount === 0n) return new Uint8Array(0)
  let hex = amount.toString(16)
  if (hex.length % 2 === 1) hex = `0${hex}`
  return hexToBytes(`0x${hex}`)
}

export function amountFromBytes(bytes: Uint8Array): bigint {
  if (bytes.length > 16 || (bytes.length > 0 && bytes[0] === 0)) throw new MalformedPaymentError('amount encoding')
  return bytes.length === 0 ? 0n : BigInt(bytesToHex(bytes))
}

function fixed(bytes: Uint8Array, length: number, field: string): Hex {
  if (bytes.length !== length) throw new MalformedPaymentError(`${field} must be ${length} bytes`)
  return bytesToHex(bytes)
}

function address(bytes: Uint8Array): Address {
  return getAddress(fixed(bytes, 20, 'contract'))
}

function chainId(value: bigint): number {
  if (value <= 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) throw new MalformedPaymentError('chain id out of range')
  return Number(value)
}

const HASH_TO_PB: Record<HashFunctionName, pb.HashFunction> = {
  keccak256: pb.HashFunction.KECCAK256,
  sha256: pb.HashFunction.SHA256,
}

function hashFromPb(value: pb.HashFunction): HashFunctionName {
  if (value === pb.HashFunction.KECCAK256) return 'keccak256'
  if (value === pb.HashFunction.SHA256) return 'sha256'
  throw new MalformedPaymentError('unknown hash function')
}

function decode<T>(codec: { decode(buf: Uint8Array): T }, bytes: Uint8Array): T {
  if (bytes.length > MAX_PAYMENT_MESSAGE_BYTES) throw new MalformedPaymentError('payment message too large')
  try {
    return codec.decode(bytes)
  } catch (err) {
    throw new MalformedPaymentError('payment message does not decode', { cause: err })
  }
}

export function voucherToPb(v: Voucher): pb.Voucher {
  return {
    chainId: BigInt(v.chainId),
    contract: hexToBytes(v.contract),
    channelId: hexToBytes(v.channelId),
    total: amountToBytes(v.total),
    signature: hexToBytes(v.signature),
  }
}

export function voucherFromPb(m: pb.Voucher): Voucher {
  return {
    chainId: chainId(m.chainId),
    contract: address(m.contract),
    channelId: fixed(m.channelId, 32, 'channelId'),
    total: amountFromBytes(m.total),
    signature: fixed(m.signature, 65, 'signature'),
  }
}

export function signedTickCommitmentToPb(s: SignedTickCommitment): pb.SignedTickCommitment {
  const c = s.commitment
  return {
    chainId: BigInt(c.chainId),
    contract: hexToBytes(c.contract),
    channelId: hexToBytes(c.channelId),
    leaseId: hexToBytes(c.leaseId),
    tip: hexToBytes(c.tip),
    hashFunction: HASH_TO_PB[c.hashFunction],
    amountPerTick: amountToBytes(c.amountPerTick),
    baseAmount: amountToBytes(c.baseAmount),
    maxTicks: c.maxTicks,
    signature: hexToBytes(s.signature),
  }
}

/** Decode a signed commitment. The signature is not checked here: the receiver does (COMMITMENT_NOT_SIGNED). */
export function signedTickCommitmentFromPb(m: pb.SignedTickCommitment): SignedTickCommitment {
  if (m.maxTicks < 1 || m.maxTicks > MAX_TICKS) throw new MalformedPaymentError('maxTicks out of range')
  if (m.signature.length > 65) throw new MalformedPaymentError('signature too long')
  const commitment: TickCommitment = {
    chainId: chainId(m.chainId),
    contract: address(m.contract),
    channelId: fixed(m.channelId, 32, 'channelId'),
    leaseId: fixed(m.leaseId, 32, 'leaseId'),
    tip: fixed(m.tip, 32, 'tip'),
    hashFunction: hashFromPb(m.hashFunction),
    amountPerTick: amountFromBytes(m.amountPerTick),
    baseAmount: amountFromBytes(m.baseAmount),
    maxTicks: m.maxTicks,
  }
  return { commitment, signature: bytesToHex(m.signature) }
}

export function tickToPb(t: Tick): pb.Tick {
  return { leaseId: hexToBytes(t.leaseId), index: t.index, preimage: new Uint8Array(t.preimage) }
}

export function tickFromPb(m: pb.Tick): Tick {
  fixed(m.preimage, 32, 'preimage')
  return { leaseId: fixed(m.leaseId, 32, 'leaseId'), index: m.index, preimage: m.preimage }
}

/** Encode/decode helpers for the wire (and for the store). Decoding enforces sizes and throws MalformedPaymentError. */
export function encodeVoucher(v: Voucher): Uint8Array {
  return pb.Voucher.encode(voucherToPb(v))
}

export function decodeVoucher(bytes: Uint8Array): Voucher {
  return voucherFromPb(decode(pb.Voucher, bytes))
}

export function encodeSignedTickCommitment(s: SignedTickCommitment): Uint8Array {
  return pb.SignedTickCommitment.encode(signedTickCommitmentToPb(s))
}

export function decodeSignedTickCommitment(bytes: Uint8Array): SignedTickCommitment {
  return signedTickCommitmentFromPb(decode(pb.SignedTickCommitment, bytes))
}

export function encodeTick(t: Tick): Uint8Array {
  return pb.Tick.encode(tickToPb(t))
}

export function decodeTick(bytes: Uint8Array): Tick {
  return tickFromPb(decode(pb.Tick, bytes))
}
