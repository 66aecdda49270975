import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { bytesToHex, type Hex } from 'viem'
import { requestClose } from '../../src/pay/actions/close-channel.js'
import { openChannel } from '../../src/pay/actions/open-channel.js'
import { settleProof } from '../../src/pay/actions/settle-channel.js'
import { ChannelStateCache } from '../../src/pay/channel-state-cache.js'
import { signTickCommitment, signVoucher } from '../../src/pay/eip712.js'
import { HashChain } from '../../src/pay/hash-chain.js'
import {
  decodeSignedTickCommitment,
  decodeTick,
  decodeVoucher,
  encodeSignedTickCommitment,
  encodeTick,
  encodeVoucher,
} from '../../src/pay/messages.js'
import { createPaymentReceiver, type PaymentReceiver } from '../../src/pay/payment-receiver.js'
import { createPaymentSender, type PaymentSender } from '../../src/pay/payment-sender.js'
import { createPaymentStore, type PaymentStore } from '../../src/pay/payment-store.js'
import type { TickCommitment } from '../../src/pay/types.js'
import { type PayFixture, rejectsWithCode, setupPayFixture } from './helpers.js'

describe('payment receiver and sender: off-chain checks, durable store (anvil)', () => {
  let f: PayFixture
  let dir: string
  const stores: PaymentStore[] = []

  before(async () => {
    f = await setupPayFixture()
    dir = await mkdtemp(join(tmpdir(), 'parkbench-pay-'))
  })
  after(async () => {
    for (const s of stores) await s.stop()
    await f?.chain.stop()
    await rm(dir, { recursive: true, force: true })
  })

  let n = 0
  async function store(name = `s${n++}`): Promise<PaymentStore> {
    const s = await createPaymentStore({ path: join(dir, name) })
    stores.push(s)
    return s
  }

  async function receiver(s?: PaymentStore): Promise<PaymentReceiver> {
    const r = createPaymentReceiver(
      {
        store: s ?? (await store()),
        channels: new ChannelStateCache({ client: f.publicClient }, { contract: f.chain.contract }),
      },
      {
        chainId: f.chain.chainId,
        contract: f.chain.contract,
        provider: f.provider.account.address,
        providerNode: f.providerNode,
      },
    )
    await r.start()
    return r
  }

  async function sender(voucherEveryTicks = 5): Promise<PaymentSender> {
    const s = createPaymentSender(
      { store: await store(), account: f.renter.account },
      { chainId: f.chain.chainId, contract: f.chain.contract, voucherEveryTicks },
    )
    await s.start()
    return s
  }

  async function open(amount = 100_000n): Promise<Hex> {
    const { channelId } = await openChannel(f.renter.wallet, {
      contract: f.chain.contract,
      provider: f.provider.account.address,
      providerNode: f.providerNode,
      amount,
    })
    return channelId
  }

  it('a lease pays by ticks and vouchers over the wire encoding; the best proof settles on-chain', async () => {
    const channelId = await open()
    const r = await receiver()
    const s = await sender(5)
    const commitment = await s.startLease({ channelId, amountPerTick: 7n, maxTicks: 100 })
    const leaseId = commitment.commitment.leaseId
    // Everything crosses the protobuf encoding, as it will inside the lease protocol.
    await r.acceptCommitment(decodeSignedTickCommitment(encodeSignedTickCommitment(commitment)), { channelId, leaseId })
    let vouchers = 0
    for (let i = 1; i <= 12; i++) {
      const next = await s.nextTick(leaseId)
      const tick = decodeTick(encodeTick(next.tick))
      const ack = await r.acceptTick(tick.leaseId, tick.preimage, { index: tick.index })
      assert.equal(ack.ticks, i)
      assert.equal(ack.total, 7n * BigInt(i))
      if (next.voucher != null) {
        vouchers++
        const v = await r.acceptVoucher(decodeVoucher(encodeVoucher(next.voucher)), { channelId })
        assert.equal(v.total, 7n * BigInt(i))
        assert.equal(r.bestProof(channelId)?.kind, 'voucher')
      }
    }
    assert.equal(vouchers, 2)
    assert.deepEqual(await r.remaining(channelId), {
      deposit: 100_000n,
      total: 84n,
      remaining: 100_000n - 84n,
      renter: f.renter.account.address,
    })
    await rejectsWithCode(r.remaining(`0x${'ee'.repeat(32)}`), 'CHANNEL_NOT_OPEN')
    const best = r.bestProof(channelId)
    assert.equal(best?.kind, 'ticks')
    assert.equal(best?.total, 84n)
    const settled = await settleProof(f.provider.wallet, { contract: f.chain.contract, proof: best! })
    assert.equal(settled.paid, 84n)
    // The lease ends with a final voucher at the same total; the next lease starts there.
    const final = await s.endLease(leaseId)
    assert.equal(final?.total, 84n)
    await r.acceptVoucher(final!, { channelId })
    const second = await s.startLease({ channelId, amountPerTick: 1n, maxTicks: 10 })
    assert.equal(second.commitment.baseAmount, 84n)
    await r.acceptCommitment(second, { channelId })
    const t = await s.nextTick(second.commitment.leaseId)
    assert.equal((await r.acceptTick(t.tick.leaseId, t.tick.preimage)).total, 85n)
  })

  it('rejects each bad voucher with its typed error', async () => {
    const channelId = await open(1_000n)
    const other = await open(1_000n)
    const r = await receiver()
    const { chainId, contract } = f.chain
    const v = (total: bigint, over: Partial<{ chainId: number; contract: Hex; channelId: Hex }> = {}) =>
      signVoucher(f.renter.account, { chainId, contract, channelId, total, ...over })
    await rejectsWithCode(r.acceptVoucher(await v(10n), { channelId: other }), 'CHANNEL_MISMATCH')
    await rejectsWithCode(r.acceptVoucher(await v(10n, { chainId: 1 })), 'WRONG_CHAIN')
    await rejectsWithCode(r.acceptVoucher(await v(10n, { contract: f.chain.token })), 'WRONG_CONTRACT')
    await rejectsWithCode(r.acceptVoucher(await v(10n, { channelId: `0x${'ab'.repeat(32)}` })), 'CHANNEL_NOT_OPEN')
    const forged = await signVoucher(f.stranger.account, { chainId, contract, channelId, total: 10n })
    await rejectsWithCode(r.acceptVoucher(forged), 'WRONG_SIGNER')
    // A signature for channel `other` pasted onto `channelId`.
    const pasted = { ...(await v(10n, { channelId: other })), channelId }
    await rejectsWithCode(r.acceptVoucher(pasted), 'WRONG_SIGNER')
    await rejectsWithCode(r.acceptVoucher(await v(1_001n)), 'AMOUNT_EXCEEDS_DEPOSIT')
    assert.equal((await r.acceptVoucher(await v(500n))).total, 500n)
    await rejectsWithCode(r.acceptVoucher(await v(500n)), 'AMOUNT_NOT_INCREASING')
    await rejectsWithCode(r.acceptVoucher(await v(400n)), 'AMOUNT_NOT_INCREASING')
    // Replay after settle: a provider that lost its state still refuses what the chain has settled.
    await settleProof(f.provider.wallet, { contract, proof: r.bestProof(channelId)! })
    const amnesiac = await receiver()
    await rejectsWithCode(amnesiac.acceptVoucher(await v(500n)), 'AMOUNT_NOT_INCREASING')
    // A channel to another provider.
    const { channelId: elsewhere } = await openChannel(f.renter.wallet, {
      contract,
      provider: f.stranger.account.address,
      providerNode: f.providerNode,
      amount: 1_000n,
    })
    await rejectsWithCode(r.acceptVoucher(await v(10n, { channelId: elsewhere })), 'CHANNEL_MISMATCH')
    // A closing channel takes no new payment.
    await requestClose(f.renter.wallet, { contract, channelId: other })
    await rejectsWithCode(r.acceptVoucher(await v(10n, { channelId: other })), 'CHANNEL_CLOSING')
  })

  it('rejects each bad commitment and tick with its typed error', async () => {
    const channelId = await open(1_000n)
    const r = await receiver()
    const { chainId, contract } = f.chain
    const chain = new HashChain('keccak256', 50)
    const base: TickCommitment = {
      chainId,
      contract,
      channelId,
      leaseId: bytesToHex(new Uint8Array(32).fill(9)),
      tip: chain.tip,
      hashFunction: 'keccak256',
      amountPerTick: 10n,
      baseAmount: 0n,
      maxTicks: 50,
    }
    const signed = await signTickCommitment(f.renter.account, base)
    await rejectsWithCode(r.acceptCommitment({ ...signed, signature: '0x' }, { channelId }), 'COMMITMENT_NOT_SIGNED')
    await rejectsWithCode(
      r.acceptCommitment(await signTickCommitment(f.stranger.account, base), { channelId }),
      'WRONG_SIGNER',
    )
    await rejectsWithCode(r.acceptCommitment(signed, { channelId: `0x${'cd'.repeat(32)}` }), 'CHANNEL_MISMATCH')
    await rejectsWithCode(
      r.acceptCommitment(await signTickCommitment(f.renter.account, { ...base, chainId: 5 }), { channelId }),
      'WRONG_CHAIN',
    )
    await rejectsWithCode(
      r.acceptCommitment(await signTickCommitment(f.renter.account, { ...base, amountPerTick: 1_001n }), { channelId }),
      'AMOUNT_EXCEEDS_DEPOSIT',
    )
    await rejectsWithCode(r.acceptTick(base.leaseId, chain.preimage(1)), 'UNKNOWN_LEASE')
    await r.acceptCommitment(signed, { channelId })
    await rejectsWithCode(r.acceptTick(base.leaseId, chain.preimage(2)), 'INVALID_PREIMAGE')
    await rejectsWithCode(r.acceptTick(base.leaseId, new Uint8Array(32)), 'INVALID_PREIMAGE')
    for (let k = 1; k <= 3; k++) await r.acceptTick(base.leaseId, chain.preimage(k))
    // Replaying an accepted tick is not the next preimage.
    await rejectsWithCode(r.acceptTick(base.leaseId, chain.preimage(3)), 'INVALID_PREIMAGE')
    assert.equal(r.channelTotal(channelId), 30n)
    // A voucher that crossed a tick in flight is kept (it settles cheaper) but the best proof stays the ticks; a
    // voucher must still beat the previous voucher.
    const low = await signVoucher(f.renter.account, { chainId, contract, channelId, total: 20n })
    assert.equal((await r.acceptVoucher(low)).total, 30n)
    assert.equal(r.bestVoucher(channelId)?.total, 20n)
    assert.equal(r.bestProof(channelId)?.kind, 'ticks')
    await rejectsWithCode(r.acceptVoucher(low), 'AMOUNT_NOT_INCREASING')
    const lower = await signVoucher(f.renter.account, { chainId, contract, channelId, total: 15n })
    await rejectsWithCode(r.acceptVoucher(lower), 'AMOUNT_NOT_INCREASING')
    // A commitment that starts below the ticks is a step back.
    const chain2 = new HashChain('keccak256', 200)
    const behind = await signTickCommitment(f.renter.account, {
      ...base,
      leaseId: bytesToHex(new Uint8Array(32).fill(10)),
      tip: chain2.tip,
      baseAmount: 20n,
      maxTicks: 200,
    })
    await rejectsWithCode(r.acceptCommitment(behind, { channelId }), 'AMOUNT_NOT_INCREASING')
    // Ticks past the deposit, and past maxTicks.
    const ahead = await signTickCommitment(f.renter.account, {
      ...base,
      leaseId: bytesToHex(new Uint8Array(32).fill(11)),
      tip: chain2.tip,
      baseAmount: 30n,
      maxTicks: 200,
    })
    await r.acceptCommitment(ahead, { channelId })
    // The previous lease is retired by the next one on the channel (leases are sequential).
    await rejectsWithCode(r.acceptTick(base.leaseId, chain.preimage(4)), 'UNKNOWN_LEASE')
    for (let k = 1; k <= 97; k++) await r.acceptTick(ahead.commitment.leaseId, chain2.preimage(k))
    assert.equal(r.channelTotal(channelId), 1_000n)
    await rejectsWithCode(r.acceptTick(ahead.commitment.leaseId, chain2.preimage(98)), 'AMOUNT_EXCEEDS_DEPOSIT')
    const shortChain = new HashChain('keccak256', 2)
    const channel2 = await open(1_000n)
    const short = await signTickCommitment(f.renter.account, {
      ...base,
      channelId: channel2,
      leaseId: bytesToHex(new Uint8Array(32).fill(12)),
      tip: shortChain.tip,
      maxTicks: 2,
    })
    await r.acceptCommitment(short, { channelId: channel2 })
    await r.acceptTick(short.commitment.leaseId, shortChain.preimage(1))
    await r.acceptTick(short.commitment.leaseId, shortChain.preimage(2))
    await rejectsWithCode(r.acceptTick(short.commitment.leaseId, shortChain.element(0)), 'TICK_OUT_OF_RANGE')
  })

  it("a lease renewed with a new chain under the same lease id: both chains' proofs settle on-chain", async () => {
    const channelId = await open()
    const r = await receiver()
    const s = await sender(1000)
    const first = await s.startLease({ channelId, amountPerTick: 5n, maxTicks: 3 })
    const leaseId = first.commitment.leaseId
    await r.acceptCommitment(first, { channelId, leaseId })
    for (let i = 0; i < 3; i++) {
      const { tick } = await s.nextTick(leaseId)
      await r.acceptTick(tick.leaseId, tick.preimage)
    }
    await rejectsWithCode(s.nextTick(leaseId), 'TICK_OUT_OF_RANGE')
    const renewed = await s.renewLease(leaseId, { maxTicks: 10 })
    assert.equal(renewed.commitment.leaseId, leaseId)
    assert.equal(renewed.commitment.baseAmount, 15n)
    await r.acceptCommitment(renewed, { channelId, leaseId })
    // A replay of either commitment is refused.
    await rejectsWithCode(r.acceptCommitment(first, { channelId, leaseId }), 'AMOUNT_NOT_INCREASING')
    await rejectsWithCode(r.acceptCommitment(renewed, { channelId, leaseId }), 'AMOUNT_NOT_INCREASING')
    // Before the new chain ticks, the best proof is still the old chain's, with the old commitment.
    const old = r.bestProof(channelId)
    assert.equal(old?.kind === 'ticks' && old.commitment.commitment.tip, first.commitment.tip)
    assert.equal((await settleProof(f.provider.wallet, { contract: f.chain.contract, proof: old! })).paid, 15n)
    for (let i = 0; i < 2; i++) {
      const { tick } = await s.nextTick(leaseId)
      await r.acceptTick(tick.leaseId, tick.preimage)
    }
    const best = r.bestProof(channelId)
    assert.equal(best?.kind === 'ticks' && best.commitment.commitment.tip, renewed.commitment.tip)
    assert.equal(best?.total, 25n)
    assert.equal((await settleProof(f.provider.wallet, { contract: f.chain.contract, proof: best! })).paid, 10n)
  })

  it('re-anchoring keeps on-chain tick proofs short: at most N hashes whatever the lease length', async () => {
    const channelId = await open()
    const st = await store()
    const r = await receiver(st)
    const s = createPaymentSender(
      { store: await store(), account: f.renter.account },
      { chainId: f.chain.chainId, contract: f.chain.contract, voucherEveryTicks: 1000, reanchorEveryTicks: 5 },
    )
    await s.start()
    const c = await s.startLease({ channelId, amountPerTick: 3n, maxTicks: 100 })
    const leaseId = c.commitment.leaseId
    await r.acceptCommitment(c, { channelId, leaseId })
    let anchors = 0
    for (let i = 1; i <= 32; i++) {
      const next = await s.nextTick(leaseId)
      await r.acceptTick(next.tick.leaseId, next.tick.preimage, { index: next.tick.index })
      if (next.commitment != null) {
        anchors++
        assert.equal(next.commitment.commitment.baseAmount, 3n * BigInt(i))
        assert.equal(next.commitment.commitment.maxTicks, 100 - i)
        await r.acceptCommitment(decodeSignedTickCommitment(encodeSignedTickCommitment(next.commitment)), {
          channelId,
          leaseId,
        })
      }
    }
    assert.equal(anchors, 6)
    const best = r.bestProof(channelId)
    assert.equal(best?.kind, 'ticks')
    assert.equal(best?.kind === 'ticks' && best.ticks, 2)
    assert.equal(best?.total, 96n)
    // Superseded commitments are dropped: the store holds only the current one.
    assert.equal((await st.list('recv/commitment/')).length, 1)
    const settled = await settleProof(f.provider.wallet, { contract: f.chain.contract, proof: best! })
    assert.equal(settled.paid, 96n)
  })

  it('the best proof and lease progress survive a store restart', async () => {
    const channelId = await open()
    const s1 = await store('restart')
    const r1 = await receiver(s1)
    const snd = await sender(1000)
    const c = await snd.startLease({ channelId, amountPerTick: 3n, maxTicks: 20 })
    await r1.acceptCommitment(c, { channelId })
    for (let i = 0; i < 4; i++) {
      const { tick } = await snd.nextTick(c.commitment.leaseId)
      await r1.acceptTick(tick.leaseId, tick.preimage)
    }
    await r1.stop()
    await s1.stop()
    stores.splice(stores.indexOf(s1), 1)
    const s2 = await store('restart')
    const r2 = await receiver(s2)
    assert.deepEqual(r2.bestProof(channelId), r1.bestProof(channelId))
    assert.equal(r2.leaseProgress(c.commitment.leaseId)?.ticks, 4)
    // The lease continues where it stopped.
    const { tick } = await snd.nextTick(c.commitment.leaseId)
    assert.equal((await r2.acceptTick(tick.leaseId, tick.preimage)).total, 15n)
  })
})
