import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Tensor } from 'onnxruntime-node'
import { infer } from '../../src/compute/index.js'
import { EndReason, LeaseStatus, openLease } from '../../src/lease/index.js'
import { settleProof } from '../../src/pay/actions/settle-channel.js'
import { createPayPublicClient, createPayWalletClient } from '../../src/pay/clients.js'
import { assertMoneyConserved } from '../helpers/money.js'
import {
  type DevChain,
  PRICE,
  type ProviderSide,
  type RenterSide,
  startDevChain,
  startProvider,
  startRenter,
} from './fixture.js'

const sleep = async (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const inputs = () => ({
  a: new Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]),
  b: new Tensor('float32', Float32Array.from([10, 20, 30, 40, 50, 60]), [2, 3]),
})

describe('leases on loopback with a real anvil', () => {
  let chain: DevChain
  let provider: ProviderSide
  let renter: RenterSide

  before(async () => {
    chain = await startDevChain()
    provider = await startProvider(chain, 2, { quoteTtlMs: 1_000 })
    renter = await startRenter(chain, 1, provider)
  })

  after(async () => {
    await renter?.stop()
    await provider?.stop()
    await chain?.stop()
  })

  const lease = async (channelId: `0x${string}`, extra: Partial<Parameters<typeof openLease>[1]> = {}) =>
    openLease(
      { node: renter.node, sender: renter.sender },
      {
        provider: provider.node.peerId,
        providerPeerId: provider.node.peerId,
        channelId,
        models: [provider.modelSha256],
        maxPricePerSecond: PRICE,
        seconds: 30,
        ...extra,
      },
    )

  it('runs jobs only inside a paid lease, and both sides agree on every unit paid', async () => {
    const channelId = await renter.openChannel()
    const job = async () => infer(renter.node, provider.node.peerId, { model: provider.modelSha256, inputs: inputs() })
    await assert.rejects(job(), { code: 'NOT_AUTHORIZED' })

    const l = await lease(channelId)
    await l.waitPaidUp()
    const result = await job()
    assert.deepEqual(Array.from(result.outputs.y!.data as Float32Array), [11, 22, 33, 44, 55, 66])
    await sleep(2_300)
    const summary = await l.end()
    assert.equal(summary.endReason, 'RENTER_ENDED')
    assert.ok(summary.ticksSent >= 3, `ticks sent ${summary.ticksSent}`)
    assert.equal(summary.ticksAcknowledged, summary.ticksSent)
    assert.equal(summary.amountPaid, PRICE * BigInt(summary.ticksSent))

    const record = provider.leases.leases().find((x) => x.leaseId === l.leaseId)!
    assert.equal(record.endReason, 'RENTER_ENDED')
    assert.equal(record.ticksPaid, summary.ticksSent)
    assert.equal(record.amountPaid, summary.amountPaid)
    assert.equal(record.jobs, 1)
    // Money conservation: what the renter authorised = what the provider holds a proof for.
    assert.equal(provider.receiver.channelTotal(channelId), renter.sender.channelTotal(channelId))
    assert.equal(provider.receiver.bestProof(channelId)?.total, summary.amountPaid)
    await assert.rejects(job(), { code: 'NOT_AUTHORIZED' })

    // The channel is reused: a second lease continues from the first one's total.
    const second = await lease(channelId)
    await second.waitPaidUp()
    const s2 = await second.end()
    assert.equal(provider.receiver.channelTotal(channelId), summary.amountPaid + s2.amountPaid)
    await assertMoneyConserved({
      client: createPayPublicClient(chain),
      contract: chain.contract,
      channels: [
        {
          channelId,
          authorised: renter.sender.channelTotal(channelId),
          acknowledged: provider.receiver.channelTotal(channelId),
        },
      ],
      maxUnacknowledged: PRICE,
    })
  })

  it('ends a lease PAYMENT_LATE when the renter stops paying; the provider is out at most one tick', async () => {
    const channelId = await renter.openChannel()
    let allowTicks = 2
    const stingy = {
      startLease: renter.sender.startLease.bind(renter.sender),
      renewLease: renter.sender.renewLease.bind(renter.sender),
      endLease: renter.sender.endLease.bind(renter.sender),
      channelTotal: renter.sender.channelTotal.bind(renter.sender),
      nextTick: async (id: `0x${string}`) => {
        if (allowTicks-- <= 0) return new Promise<never>(() => {})
        return renter.sender.nextTick(id)
      },
    }
    const l = await openLease(
      { node: renter.node, sender: stingy },
      {
        provider: provider.node.peerId,
        providerPeerId: provider.node.peerId,
        channelId,
        maxPricePerSecond: PRICE,
        seconds: 30,
      },
    )
    await l.waitPaidUp()
    assert.equal(await l.ended, EndReason.PAYMENT_LATE)
    const record = provider.leases.leases().find((x) => x.leaseId === l.leaseId)!
    assert.equal(record.endReason, 'PAYMENT_LATE')
    assert.equal(record.ticksPaid, 2)
    // The provider stops serving at the paid boundary (2 ticks = 2 s) and ends the lease a grace later.
    assert.ok(record.endedAt! - record.startedAt >= 2_000, 'not ended before the paid time ran out')
    await assert.rejects(infer(renter.node, provider.node.peerId, { model: provider.modelSha256, inputs: inputs() }), {
      code: 'NOT_AUTHORIZED',
    })
  })

  it('refuses a price under its own, a request over the channel funds, an unknown channel, and a full provider', async () => {
    const channelId = await renter.openChannel(PRICE * 10n)
    await assert.rejects(lease(channelId, { maxPricePerSecond: PRICE - 1n }), { status: LeaseStatus.PRICE_TOO_LOW })
    await assert.rejects(lease(channelId, { seconds: 11 }), { status: LeaseStatus.INSUFFICIENT_FUNDS })
    await assert.rejects(lease(`0x${'ab'.repeat(32)}`), { status: LeaseStatus.CHANNEL_INVALID })
    await assert.rejects(lease(channelId, { models: ['00'.repeat(32)] }), { status: LeaseStatus.MODEL_NOT_FOUND })

    const bigChannel = await renter.openChannel()
    const other = await renter.openChannel()
    const holding = await lease(bigChannel, { threads: 2 })
    await assert.rejects(lease(other), { status: LeaseStatus.BUSY })
    await holding.end()
    const now = await lease(other)
    await now.end()
  })

  it('paused: ends running leases with the pause reason, refuses new ones BUSY, and takes them again once resumed', async () => {
    const channelId = await renter.openChannel()
    const running = await lease(channelId)
    await running.waitPaidUp()
    await provider.leases.pause(EndReason.PROVIDER_PAUSED, 'Paused by its owner')
    assert.equal(await running.ended, EndReason.PROVIDER_PAUSED)
    const summary = running.summary()
    assert.equal(summary.endReason, 'PROVIDER_PAUSED')
    // Both sides agree on every unit paid: nothing more is owed or sent after the end.
    assert.equal(provider.receiver.channelTotal(channelId), renter.sender.channelTotal(channelId))
    assert.equal(summary.ticksSent, summary.ticksAcknowledged)
    await assert.rejects(lease(channelId), { name: 'LeaseRefusedError', status: LeaseStatus.BUSY })
    assert.deepEqual(provider.leases.paused, { reason: EndReason.PROVIDER_PAUSED, detail: 'Paused by its owner' })

    provider.leases.resume()
    // A new price is quoted to new leases only.
    provider.leases.setPrice(PRICE * 2n)
    try {
      await assert.rejects(lease(channelId), { status: LeaseStatus.PRICE_TOO_LOW })
      const dearer = await lease(channelId, { maxPricePerSecond: PRICE * 2n })
      await dearer.waitPaidUp()
      const ended = await dearer.end()
      assert.equal(ended.pricePerSecond, PRICE * 2n)
      assert.throws(() => provider.leases.setPrice(0n), RangeError)
    } finally {
      provider.leases.setPrice(PRICE)
    }
  })

  it('answers QUOTE_EXPIRED to an acceptance that comes after the quote expired', async () => {
    const channelId = await renter.openChannel()
    const slow = {
      startLease: async (...args: Parameters<typeof renter.sender.startLease>) => {
        await sleep(1_500) // the provider's quotes live 1 s in this suite
        return renter.sender.startLease(...args)
      },
      renewLease: renter.sender.renewLease.bind(renter.sender),
      endLease: renter.sender.endLease.bind(renter.sender),
      channelTotal: renter.sender.channelTotal.bind(renter.sender),
      nextTick: renter.sender.nextTick.bind(renter.sender),
    }
    await assert.rejects(
      openLease(
        { node: renter.node, sender: slow },
        {
          provider: provider.node.peerId,
          providerPeerId: provider.node.peerId,
          channelId,
          maxPricePerSecond: PRICE,
          seconds: 5,
        },
      ),
      { name: 'LeaseRefusedError', status: LeaseStatus.QUOTE_EXPIRED },
    )
    // The expired quote released its capacity and its channel.
    assert.equal(provider.leases.freeThreads(), 2)
    const l = await lease(channelId)
    await l.end()
  })

  it('stops paying when the provider stops answering: charged only for served seconds plus the prepaid tick', async () => {
    const channelId = await renter.openChannel()
    const l = await lease(channelId)
    await l.waitPaidUp()
    await sleep(1_200)
    // The provider hangs: it no longer acknowledges anything (its receiver never returns).
    const realAccept = provider.receiver.acceptTick.bind(provider.receiver)
    provider.receiver.acceptTick = async () => new Promise<never>(() => {})
    try {
      // The renter gives up after one unacknowledged tick; the hung provider's own timer may end it first.
      assert.ok([EndReason.PROVIDER_UNRESPONSIVE, EndReason.PAYMENT_LATE].includes(await l.ended))
    } finally {
      provider.receiver.acceptTick = realAccept
    }
    const summary = l.summary()
    await sleep(1_200)
    assert.equal(l.summary().ticksSent, summary.ticksSent, 'no tick is paid after the lease ended')
    assert.equal(summary.ticksSent, summary.ticksAcknowledged + 1, 'exactly one unacknowledged (prepaid) tick')
    assert.equal(provider.receiver.channelTotal(channelId), PRICE * BigInt(summary.ticksAcknowledged))
    assert.equal(renter.sender.channelTotal(channelId) - provider.receiver.channelTotal(channelId), PRICE)
    // The provider settles what it acknowledged: the books balance, the renter out exactly the one prepaid tick.
    await settleProof(createPayWalletClient(chain, provider.account), {
      contract: chain.contract,
      proof: provider.receiver.bestProof(channelId)!,
    })
    await assertMoneyConserved({
      client: createPayPublicClient(chain),
      contract: chain.contract,
      channels: [
        {
          channelId,
          authorised: renter.sender.channelTotal(channelId),
          acknowledged: provider.receiver.channelTotal(channelId),
          finalSettlement: true,
        },
      ],
      maxUnacknowledged: PRICE,
    })
  })

  it('renews a lease past its commitment with a fresh hash chain, and keeps paying exactly per tick', async () => {
    const channelId = await renter.openChannel()
    const l = await lease(channelId, { seconds: 1 }) // every commitment covers one tick
    await l.waitPaidUp()
    await sleep(2_300)
    const summary = await l.end()
    assert.equal(summary.endReason, 'RENTER_ENDED')
    assert.ok(summary.ticksAcknowledged >= 3, `acknowledged ${summary.ticksAcknowledged}`)
    assert.equal(provider.receiver.channelTotal(channelId), PRICE * BigInt(summary.ticksSent))
    assert.equal(renter.sender.channelTotal(channelId), provider.receiver.channelTotal(channelId))
  })
})
