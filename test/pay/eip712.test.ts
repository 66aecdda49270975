import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { readContract } from 'viem/actions'
import { PAYMENT_CHANNEL_ABI } from '../../src/pay/contract/artifact.js'
import { HASH_FUNCTION_IDS, signTickCommitment, signVoucher } from '../../src/pay/eip712.js'
import type { TickCommitment } from '../../src/pay/types.js'
import { type PayFixture, setupPayFixture } from './helpers.js'

// A second, independent EIP-712 implementation: hashing by hand with @noble/hashes and recovering the signer with
// @noble/curves, without viem's typed-data code.
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const fromHex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/^0x/, ''), 'hex'))
const word = (n: bigint): Uint8Array => fromHex(n.toString(16).padStart(64, '0'))
const addressWord = (a: string): Uint8Array => fromHex(a.replace(/^0x/, '').toLowerCase().padStart(64, '0'))
const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts))

function domainSeparator(chainId: number, contract: string): Uint8Array {
  return keccak_256(
    concat(
      keccak_256(utf8('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)')),
      keccak_256(utf8('ParkbenchPaymentChannel')),
      keccak_256(utf8('1')),
      word(BigInt(chainId)),
      addressWord(contract),
    ),
  )
}

function digest(domain: Uint8Array, structHash: Uint8Array): Uint8Array {
  return keccak_256(concat(Uint8Array.of(0x19, 0x01), domain, structHash))
}

function voucherStructHash(channelId: string, total: bigint): Uint8Array {
  return keccak_256(
    concat(keccak_256(utf8('Voucher(bytes32 channelId,uint256 total)')), fromHex(channelId), word(total)),
  )
}

function commitmentStructHash(c: TickCommitment): Uint8Array {
  const type =
    'TickCommitment(bytes32 channelId,bytes32 leaseId,bytes32 tip,uint8 hashFunction,uint256 amountPerTick,uint256 baseAmount,uint32 maxTicks)'
  return keccak_256(
    concat(
      keccak_256(utf8(type)),
      fromHex(c.channelId),
      fromHex(c.leaseId),
      fromHex(c.tip),
      word(BigInt(HASH_FUNCTION_IDS[c.hashFunction])),
      word(c.amountPerTick),
      word(c.baseAmount),
      word(BigInt(c.maxTicks)),
    ),
  )
}

function recoverAddress(hash: Uint8Array, signature: string): string {
  const bytes = fromHex(signature)
  assert.equal(bytes.length, 65)
  const v = bytes[64]! < 27 ? bytes[64]! : bytes[64]! - 27
  const sig = secp256k1.Signature.fromBytes(bytes.subarray(0, 64), 'compact').addRecoveryBit(v)
  const publicKey = sig.recoverPublicKey(hash).toBytes(false)
  return `0x${hex(keccak_256(publicKey.subarray(1)).subarray(12))}`
}

describe('EIP-712 vouchers and commitments verify with an independent implementation', () => {
  let f: PayFixture
  before(async () => {
    f = await setupPayFixture()
  })
  after(async () => {
    await f?.chain.stop()
  })

  it('the domain separator matches the deployed contract', async () => {
    const onChain = await readContract(f.publicClient, {
      address: f.chain.contract,
      abi: PAYMENT_CHANNEL_ABI,
      functionName: 'domainSeparator',
    })
    assert.equal(onChain, `0x${hex(domainSeparator(f.chain.chainId, f.chain.contract))}`)
  })

  it('a viem-signed voucher recovers to the renter with noble', async () => {
    const channelId = `0x${'5a'.repeat(32)}` as const
    const voucher = await signVoucher(f.renter.account, {
      chainId: f.chain.chainId,
      contract: f.chain.contract,
      channelId,
      total: 123_456_789_000n,
    })
    const hash = digest(domainSeparator(f.chain.chainId, f.chain.contract), voucherStructHash(channelId, voucher.total))
    assert.equal(recoverAddress(hash, voucher.signature), f.renter.account.address.toLowerCase())
    // Another total, chain or contract gives another digest, so another (wrong) signer.
    const other = digest(domainSeparator(1, f.chain.contract), voucherStructHash(channelId, voucher.total))
    assert.notEqual(recoverAddress(other, voucher.signature), f.renter.account.address.toLowerCase())
  })

  it('a viem-signed tick commitment recovers to the renter with noble and hashes as the contract does', async () => {
    const c: TickCommitment = {
      chainId: f.chain.chainId,
      contract: f.chain.contract,
      channelId: `0x${'11'.repeat(32)}`,
      leaseId: `0x${'22'.repeat(32)}`,
      tip: `0x${'33'.repeat(32)}`,
      hashFunction: 'keccak256',
      amountPerTick: 1_000n,
      baseAmount: 42n,
      maxTicks: 3600,
    }
    const signed = await signTickCommitment(f.renter.account, c)
    const structHash = commitmentStructHash(c)
    const hash = digest(domainSeparator(f.chain.chainId, f.chain.contract), structHash)
    assert.equal(recoverAddress(hash, signed.signature), f.renter.account.address.toLowerCase())
    const onChain = await readContract(f.publicClient, {
      address: f.chain.contract,
      abi: PAYMENT_CHANNEL_ABI,
      functionName: 'hashTickCommitment',
      args: [{ ...c, hashFunction: HASH_FUNCTION_IDS[c.hashFunction] }],
    })
    assert.equal(onChain, `0x${hex(structHash)}`)
  })
})
