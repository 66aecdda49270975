import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bytesToHex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { signTickCommitment, signVoucher } from '../../src/pay/eip712.js'
import { AmountExceedsDepositError, PaymentStoreError, WrongSignerError } from '../../src/pay/errors.js'
import { HashChain, hashRepeated } from '../../src/pay/hash-chain.js'
import {
  amountFromBytes,
  amountToBytes,
  decodeSignedTickCommitment,
  decodeTick,
  decodeVoucher,
  encodeSignedTickCommitment,
  encodeTick,
  encodeVoucher,
  MAX_PAYMENT_MESSAGE_BYTES,
} from '../../src/pay/messages.js'
import { PaymentAck, Voucher as VoucherPb } from '../../src/pay/pb/pay.js'
import { PaymentStatus, paymentAck, readPaymentAck } from '../../src/pay/status.js'

const renter = privateKeyToAccount(`0x${'11'.repeat(32)}`)
const contract = '0x5FbDB2315678afecb367f032d93F642f64180aa3'
const channelId = `0x${'aa'.repeat(32)}` as const

describe('pay wire messages', () => {
  it('amounts encode minimal big-endian and reject non-minimal or oversized encodings', () => {
    for (const n of [0n, 1n, 255n, 256n, 10n ** 18n, (1n << 128n) - 1n])
      assert.equal(amountFromBytes(amountToBytes(n)), n)
    assert.deepEqual([...amountToBytes(256n)], [1, 0])
    assert.throws(() => amountFromBytes(Uint8Array.of(0, 1)), { code: 'MALFORMED' })
    assert.throws(() => amountFromBytes(new Uint8Array(17).fill(1)), { code: 'MALFORMED' })
    assert.throws(() => amountToBytes(1n << 128n), { code: 'MALFORMED' })
  })

  it('vouchers, commitments and ticks round-trip and stay small', async () => {
    const voucher = await signVoucher(renter, { chainId: 31337, contract, channelId, total: 123_456n })
    assert.deepEqual(decodeVoucher(encodeVoucher(voucher)), voucher)
    const chain = new HashChain('keccak256', 3600)
    const signed = await signTickCommitment(renter, {
      chainId: 31337,
      contract,
      channelId,
      leaseId: `0x${'bb'.repeat(32)}`,
      tip: chain.tip,
      hashFunction: 'keccak256',
      amountPerTick: 10n ** 12n,
      baseAmount: 5n,
      maxTicks: 3600,
    })
    const bytes = encodeSignedTickCommitment(signed)
    assert.ok(bytes.length < 400, `${bytes.length} bytes`)
    assert.deepEqual(decodeSignedTickCommitment(bytes), signed)
    const tick = { leaseId: signed.commitment.leaseId, index: 7, preimage: chain.preimage(7) }
    const back = decodeTick(encodeTick(tick))
    assert.equal(back.index, 7)
    assert.equal(bytesToHex(back.preimage), bytesToHex(tick.preimage))
    // The chain's invariant: tick k's preimage hashed k times is the tip.
    assert.equal(bytesToHex(hashRepeated('keccak256', chain.preimage(7), 7)), chain.tip)
  })

  it('malformed messages throw MALFORMED, never crash', () => {
    assert.throws(() => decodeVoucher(Uint8Array.of(0xff, 0xff, 0xff)), { code: 'MALFORMED' })
    assert.throws(() => decodeVoucher(new Uint8Array(MAX_PAYMENT_MESSAGE_BYTES + 1)), { code: 'MALFORMED' })
    const short = VoucherPb.encode({
      chainId: 1n,
      contract: new Uint8Array(19),
      channelId: new Uint8Array(32),
      total: new Uint8Array(0),
      signature: new Uint8Array(65),
    })
    assert.throws(() => decodeVoucher(short), { code: 'MALFORMED' })
    assert.throws(() => decodeTick(Uint8Array.of(0x1a, 0x01, 0x00)), { code: 'MALFORMED' })
  })

  it('acks carry the failed check as a status and come back as the same typed error', () => {
    const ok = PaymentAck.decode(PaymentAck.encode(paymentAck({ total: 99n })))
    assert.equal(readPaymentAck(ok), 99n)
    for (const err of [new WrongSignerError(), new AmountExceedsDepositError()]) {
      const ack = PaymentAck.decode(PaymentAck.encode(paymentAck({ error: err })))
      assert.equal(ack.status, err.code)
      assert.throws(() => readPaymentAck(ack), { name: err.name, code: err.code })
    }
    const internal = paymentAck({ error: new PaymentStoreError('disk on fire') })
    assert.equal(internal.status, PaymentStatus.INTERNAL)
    assert.equal(internal.message, 'internal error')
    assert.equal(paymentAck({ error: new Error('boom') }).status, PaymentStatus.INTERNAL)
  })
})
