import { type Address, type Hex, hashTypedData, type LocalAccount, recoverAddress } from 'viem'
import { EIP712_DOMAIN_NAME, EIP712_DOMAIN_VERSION } from './constants.js'
import type { HashFunctionName, SignedTickCommitment, TickCommitment, Voucher } from './types.js'

/** EIP-712 types of PaymentChannel.sol. The contract hashes the same strings (VOUCHER_TYPEHASH...). */
export const VOUCHER_TYPES = {
  Voucher: [
    { name: 'channelId', type: 'bytes32' },
    { name: 'total', type: 'uint256' },
  ],
} as const

export const TICK_COMMITMENT_TYPES = {
  TickCommitment: [
    { name: 'channelId', type: 'bytes32' },
    { name: 'leaseId', type: 'bytes32' },
    { name: 'tip', type: 'bytes32' },
    { name: 'hashFunction', type: 'uint8' },
    { name: 'amountPerTick', type: 'uint256' },
    { name: 'baseAmount', type: 'uint256' },
    { name: 'maxTicks', type: 'uint32' },
  ],
} as const

/** The contract's hashFunction numbers. */
export const HASH_FUNCTION_IDS: Record<HashFunctionName, number> = { keccak256: 0, sha256: 1 }

/** The EIP-712 domain: binds every signature to one chain and one contract. */
export function paymentDomain(chainId: number, contract: Address) {
  return { name: EIP712_DOMAIN_NAME, version: EIP712_DOMAIN_VERSION, chainId, verifyingContract: contract } as const
}

export function voucherTypedData(voucher: Omit<Voucher, 'signature'>) {
  return {
    domain: paymentDomain(voucher.chainId, voucher.contract),
    types: VOUCHER_TYPES,
    primaryType: 'Voucher',
    message: { channelId: voucher.channelId, total: voucher.total },
  } as const
}

/** A commitment as the contract's `TickCommitment` struct: what is signed, and what `settleTicks` takes. */
export function tickCommitmentStruct(c: TickCommitment) {
  return {
    channelId: c.channelId,
    leaseId: c.leaseId,
    tip: c.tip,
    hashFunction: HASH_FUNCTION_IDS[c.hashFunction],
    amountPerTick: c.amountPerTick,
    baseAmount: c.baseAmount,
    maxTicks: c.maxTicks,
  } as const
}

export function tickCommitmentTypedData(c: TickCommitment) {
  return {
    domain: paymentDomain(c.chainId, c.contract),
    types: TICK_COMMITMENT_TYPES,
    primaryType: 'TickCommitment',
    message: tickCommitmentStruct(c),
  } as const
}

/** The EIP-712 digest of a voucher (what the renter signs). */
export function hashVoucher(voucher: Omit<Voucher, 'signature'>): Hex {
  return hashTypedData(voucherTypedData(voucher))
}

/** The EIP-712 digest of a tick commitment. */
export function hashTickCommitment(c: TickCommitment): Hex {
  return hashTypedData(tickCommitmentTypedData(c))
}

/**
 * Sign a cumulative voucher with the renter's account.
 *
 * @example
 * const voucher = await signVoucher(renter, { chainId: 31337, contract, channelId, total: 1_000n })
 */
export async function signVoucher(account: LocalAccount, voucher: Omit<Voucher, 'signature'>): Promise<Voucher> {
  return { ...voucher, signature: await account.signTypedData(voucherTypedData(voucher)) }
}

/** Sign a tick commitment with the renter's account. */
export async function signTickCommitment(account: LocalAccount, c: TickCommitment): Promise<SignedTickCommitment> {
  return { commitment: c, signature: await account.signTypedData(tickCommitmentTypedData(c)) }
}

/** The address that signed a voucher (throws on a malformed signature). */
export async function recoverVoucherSigner(voucher: Voucher): Promise<Address> {
  return recoverAddress({ hash: hashVoucher(voucher), signature: voucher.signature })
}

/** The address that signed a tick commitment (throws on a malformed signature). */
export async function recoverTickCommitmentSigner(signed: SignedTickCommitment): Promise<Address> {
  return recoverAddress({ hash: hashTickCommitment(signed.commitment), signature: signed.signature })
}

/** secp256k1's group order n; a canonical (low-s) signature has s <= n / 2, as the contract requires. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const HALF_N = SECP256K1_N >> 1n

/**
 * Whether a signature is what the contract's `_recover` accepts: 65 bytes r || s || v with v in {0, 1, 27, 28}
 * and a low s (s <= n / 2). viem's recovery accepts a high s too, so the receiver checks this first: a renter
 * must never get a payment acknowledged that the contract would refuse.
 */
export function isCanonicalSignature(signature: Hex): boolean {
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) return false
  const s = BigInt(`0x${signature.slice(66, 130)}`)
  const v = Number.parseInt(signature.slice(130, 132), 16)
  return s !== 0n && s <= HALF_N && (v === 0 || v === 1 || v === 27 || v === 28)
}

/**
 * The same signature in the contract's preferred form: low s (a high s is flipped to n - s with the other v, which
 * recovers the same signer) and v as 27 or 28. Applied before a proof goes on-chain.
 */
export function normalizeSignature(signature: Hex): Hex {
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) return signature
  const r = signature.slice(2, 66)
  let s = BigInt(`0x${signature.slice(66, 130)}`)
  let v = Number.parseInt(signature.slice(130, 132), 16)
  if (v < 27) v += 27
  if (s > HALF_N) {
    s = SECP256K1_N - s
    v = v === 27 ? 28 : 27
  }
  return `0x${r}${s.toString(16).padStart(64, '0')}${v.toString(16)}` as Hex
}
