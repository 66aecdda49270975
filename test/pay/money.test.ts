import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Hex } from 'viem'
import { getBlockNumber } from 'viem/actions'
import { requestClose, withdrawChannel } from '../../src/pay/actions/close-channel.js'
import { openChannel } from '../../src/pay/actions/open-channel.js'
import { settleProof } from '../../src/pay/actions/settle-channel.js'
import { topUpChannel } from '../../src/pay/actions/top-up-channel.js'
import { ChannelStateCache } from '../../src/pay/channel-state-cache.js'
import { createPaymentReceiver, type PaymentReceiver } from '../../src/pay/payment-receiver.js'
import { createPaymentSender, type PaymentSender } from '../../src/pay/payment-sender.js'
import { createPaymentStore, type PaymentStore } from '../../src/pay/payment-store.js'
import { type AssertMoneyConservedParameters, assertMoneyConserved, type MoneyRule } from '../helpers/money.js'
import { type PayFixture, setupPayFixture } from './helpers.js'

async function failsWith(params: AssertMoneyConservedParameters, rule: MoneyRule): Promise<void> {
  await assert.rejects(assertMoneyConserved(params), (err: any) => {
    assert.equal(err?.rule, rule, `expected ${rule}, got ${err?.rule} (${err?.message})`)
    assert.ok(err instanceof assert.AssertionError)
    return true
  })
}

describe('money conservation check (anvil)', () => {
  let f: PayFixture
  let dir: string
  const stores: PaymentStore[] = []
  let sender: PaymentSender
  let receiver: PaymentReceiver
  let channelId: Hex
  const PRICE = 10n

  before(async () => {
    f = await setupPayFixture()
    dir = await mkdtemp(join(tmpdir(), 'parkbench-money-'))
    const store = async (name: string) => {
      const s = await createPaymentStore({ path: join(dir, name) })
      stores.push(s)
      return s
    }
    receiver = createPaymentReceiver(
      {
        store: await store('provider'),
        channels: new ChannelStateCache({ client: f.publicClient }, { contract: f.chain.contract }),
      },
      {
        chainId: f.chain.chainId,
        contract: f.chain.contract,
        provider: f.provider.account.address,
        providerNode: f.providerNode,
      },
    )
    await receiver.start()
    sender = createPaymentSender(
      { store: await store('renter'), account: f.renter.account },
      { chainId: f.chain.chainId, contract: f.chain.contract, voucherEveryTicks: 1000 },
    )
    await sender.start()
  })
  after(async () => {
    for (const s of stores) await s.stop()
    await f?.chain.stop()
    await rm(dir, { recursive: true, force: true })
  })

  const books = (over: { authorised?: bigint; acknowledged?: bigint; finalSettlement?: boolean } = {}) => ({
    client: f.publicClient,
    contract: f.chain.contract,
    channels: [
      {
        channelId,
        authorised: over.authorised ?? sender.channelTotal(channelId),
        acknowledged: over.acknowledged ?? receiver.channelTotal(channelId),
        ...(over.finalSettlement != null ? { finalSettlement: over.finalSettlement } : {}),
      },
    ],
    maxUnacknowledged: PRICE,
  })

  it('holds through a lease, a top-up, a settlement and a withdrawal, and fails on each broken ledger', async () => {
    ;({ channelId } = await openChannel(f.renter.wallet, {
      contract: f.chain.contract,
      provider: f.provider.account.address,
      providerNode: f.providerNode,
      amount: 1_000n,
    }))
    const openedAt = await getBlockNumber(f.publicClient)
    await topUpChannel(f.renter.wallet, { contract: f.chain.contract, channelId, amount: 500n })
    const commitment = await sender.startLease({ channelId, amountPerTick: PRICE, maxTicks: 20 })
    await receiver.acceptCommitment(commitment, { channelId })
    const leaseId = commitment.commitment.leaseId
    for (let i = 0; i < 5; i++) {
      const { tick } = await sender.nextTick(leaseId)
      await receiver.acceptTick(tick.leaseId, tick.preimage)
    }
    // One more tick is authorised but lost in flight: within the one-tick bound.
    await sender.nextTick(leaseId)
    assert.deepEqual(await assertMoneyConserved(books()), [
      { channelId, deposited: 1_500n, settled: 0n, refunded: 0n, held: 1_500n, open: true },
    ])
    // Two ticks in flight are one too many.
    await failsWith(books({ acknowledged: 40n }), 'in-flight')
    // A provider that acknowledged more than the renter signed.
    await failsWith(books({ authorised: 40n }), 'acknowledged-above-authorised')
    // The deposit cannot be accounted for without its ChannelOpened event.
    await failsWith({ ...books(), fromBlock: openedAt + 1n }, 'events')

    await settleProof(f.provider.wallet, { contract: f.chain.contract, proof: receiver.bestProof(channelId)! })
    assert.deepEqual(await assertMoneyConserved(books({ finalSettlement: true })), [
      { channelId, deposited: 1_500n, settled: 50n, refunded: 0n, held: 1_450n, open: true },
    ])
    // The broken ledgers: claiming more acknowledged than settled after the final settlement, and less.
    await failsWith(books({ acknowledged: 60n, authorised: 60n, finalSettlement: true }), 'final-settlement')
    await failsWith(books({ acknowledged: 40n, authorised: 50n }), 'settled-above-acknowledged')

    await requestClose(f.renter.wallet, { contract: f.chain.contract, channelId })
    await f.chain.increaseTime(BigInt(f.chain.challengePeriod) + 1n)
    await withdrawChannel(f.renter.wallet, { contract: f.chain.contract, channelId })
    assert.deepEqual(await assertMoneyConserved(books({ finalSettlement: true })), [
      { channelId, deposited: 1_500n, settled: 50n, refunded: 1_450n, held: 0n, open: false },
    ])
  })
})
