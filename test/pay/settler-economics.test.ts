import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type Address, type Hex, zeroAddress } from 'viem'
import { requestClose, withdrawChannel } from '../../src/pay/actions/close-channel.js'
import { getSettleFeesPerGas } from '../../src/pay/actions/estimate-settle.js'
import { getChannel } from '../../src/pay/actions/get-channel.js'
import { openChannel } from '../../src/pay/actions/open-channel.js'
import { ChannelStateCache } from '../../src/pay/channel-state-cache.js'
import { createPayWalletClient, type PayWalletClient } from '../../src/pay/clients.js'
import { createPaymentReceiver, type PaymentReceiver } from '../../src/pay/payment-receiver.js'
import { createPaymentSender, type PaymentSender } from '../../src/pay/payment-sender.js'
import { createPaymentStore, type PaymentStore } from '../../src/pay/payment-store.js'
import type { Earnings } from '../../src/pay/settlement-ledger.js'
import {
  createSettler,
  type PendingSettlement,
  type SettlerInit,
  type SkippedSettlement,
} from '../../src/pay/settler.js'
import { balanceOf, type PayFixture, rejectsWithCode, setupPayFixture } from './helpers.js'
import { startRpcProxy } from './rpc-proxy.js'

// Gas here is real: the dev chain's fee per gas (a busy rollup's, falling as blocks go by) times ~56,000-62,000 gas
// per settlement. Amounts are set from the fee when the suite starts: a tick of SMALL is worth a sixty-thousandth
// of a settlement, a BIG one more than one and a half settlements.
let SETTLEMENT = 0n
let SMALL = 0n
let BIG = 0n
const DEPOSIT = 10n ** 17n

function assertNeverNegative(earnings: Earnings): void {
  for (const t of earnings.tokens) assert.ok(t.net >= 0n, `net ${t.net} for ${t.token}`)
}

describe('settlement economics, write-offs and history (anvil, real gas)', () => {
  let f: PayFixture
  let dir: string
  let renter: PaymentSender
  const stores: PaymentStore[] = []

  before(async () => {
    f = await setupPayFixture()
    const fees = await getSettleFeesPerGas(f.provider.wallet)
    SETTLEMENT = 60_000n * (fees.type === 'eip1559' ? fees.maxFeePerGas : fees.gasPrice)
    SMALL = SETTLEMENT / 60_000n
    BIG = (SETTLEMENT * 5n) / 3n
    dir = await mkdtemp(join(tmpdir(), 'parkbench-settler-economics-'))
    const store = await createPaymentStore({ path: join(dir, 'renter') })
    stores.push(store)
    renter = createPaymentSender(
      { store, account: f.renter.account },
      { chainId: f.chain.chainId, contract: f.chain.contract },
    )
    await renter.start()
  })
  after(async () => {
    for (const s of stores) await s.stop().catch(() => {})
    await f?.chain.stop()
    await rm(dir, { recursive: true, force: true })
  })

  /** The one place channels are opened in this file. */
  async function openTestChannel(amount = DEPOSIT, token?: Address): Promise<Hex> {
    const { channelId } = await openChannel(f.renter.wallet, {
      contract: f.chain.contract,
      provider: f.provider.account.address,
      providerNode: f.providerNode,
      amount,
      ...(token != null ? { token } : {}),
    })
    return channelId
  }

  async function provider(name: string) {
    const store = await createPaymentStore({ path: join(dir, name) })
    stores.push(store)
    const channels = new ChannelStateCache({ client: f.publicClient }, { contract: f.chain.contract })
    const receiver = createPaymentReceiver(
      { store, channels },
      {
        chainId: f.chain.chainId,
        contract: f.chain.contract,
        provider: f.provider.account.address,
        providerNode: f.providerNode,
      },
    )
    await receiver.start()
    const skipped: SkippedSettlement[] = []
    const settler = (init: Partial<SettlerInit> = {}, wallet: PayWalletClient = f.provider.wallet) =>
      createSettler(
        { receiver, store, channels, wallet },
        {
          contract: f.chain.contract,
          intervalMs: 20,
          fromBlock: BigInt(f.chain.deployBlock),
          onEvent: (e) => {
            if (e.type === 'settle:skipped') skipped.push(e.skipped)
          },
          ...init,
        },
      )
    return { store, channels, receiver, settler, skipped }
  }

  /** A lease of `ticks` ticks at `price` on the channel, accepted by the provider; resolves to the channel's total. */
  async function lease(receiver: PaymentReceiver, channelId: Hex, ticks: number, price: bigint): Promise<bigint> {
    const commitment = await renter.startLease({ channelId, amountPerTick: price, maxTicks: 1000 })
    await receiver.acceptCommitment(commitment, { channelId })
    let total = receiver.channelTotal(channelId)
    for (let i = 0; i < ticks; i++) {
      const { tick } = await renter.nextTick(commitment.commitment.leaseId)
      total = (await receiver.acceptTick(tick.leaseId, tick.preimage)).total
    }
    return total
  }

  const providerEth = () => balanceOf(f, f.provider.account.address)

  it('a one-tick broken lease worth less than its gas sends nothing; leases add up until gain >= 2 x gas', async () => {
    const p = await provider('broken')
    const settler = p.settler()
    const channelId = await openTestChannel()
    const price = SETTLEMENT / 3n // a third of a settlement's gas
    const before = await providerEth()

    await lease(p.receiver, channelId, 1, price)
    // What the daemon calls when a renter drops its stream.
    assert.deepEqual(await settler.settle(channelId, { reason: 'lease-broken' }), [])
    assert.equal(p.skipped.length, 1)
    const first = p.skipped[0]!
    assert.equal(first.cause, 'below-min-gain')
    assert.equal(first.reason, 'lease-broken')
    assert.equal(first.gain, price)
    assert.equal(first.estimatedCost, first.estimatedGas * first.feePerGas)
    assert.equal(first.requiredGain, 2n * first.estimatedCost)
    assert.ok(first.gain < first.estimatedCost, 'the tick is worth less than its gas')
    assert.equal(first.writtenOff, false)
    assert.equal(await providerEth(), before)
    assert.deepEqual((await settler.earnings()).tokens, [])

    let leases = 1
    for (;;) {
      assert.ok(leases < 20, 'settled within 20 leases')
      const total = await lease(p.receiver, channelId, 1, price)
      leases++
      const report = await settler.settleWithReport(channelId, { reason: 'lease-broken' })
      if (report.settled.length === 0) {
        const [skip] = report.skipped
        assert.equal(skip?.gain, total)
        assert.ok(skip.gain < skip.requiredGain!)
        assert.equal(await providerEth(), before)
        continue
      }
      const [settled] = report.settled
      assert.equal(settled!.paid, total)
      assert.equal(settled!.reason, 'lease-broken')
      // It waited for 2 x the estimate; what it spent is at most the estimate.
      assert.ok(settled!.paid >= 2n * settled!.gasCost, `${settled!.paid} vs gas ${settled!.gasCost}`)
      assert.equal(await providerEth(), before + settled!.paid - settled!.gasCost)
      break
    }
    assert.ok(leases >= 3, `several leases added up (${leases})`)
    const earnings = await settler.earnings()
    assertNeverNegative(earnings)
    const [eth] = earnings.tokens
    assert.equal(eth!.net, (await providerEth()) - before)
  })

  it('inside a close window: worth less than its gas is written off once; worth more is settled', async () => {
    const p = await provider('window')
    const cheap = await openTestChannel(10n ** 12n)
    const dear = await openTestChannel()
    await lease(p.receiver, cheap, 1, SMALL)
    const dearTotal = await lease(p.receiver, dear, 10, BIG)
    const before = await providerEth()
    const settler = p.settler({ fromBlock: await f.publicClient.getBlockNumber() })
    await requestClose(f.renter.wallet, { contract: f.chain.contract, channelId: cheap })
    await requestClose(f.renter.wallet, { contract: f.chain.contract, channelId: dear })

    const results = await settler.check()
    assert.deepEqual(
      results.map((r) => [r.channelId, r.reason, r.paid]),
      [[dear.toLowerCase(), 'closing', dearTotal]],
    )
    assert.equal(p.skipped.length, 1)
    assert.equal(p.skipped[0]!.channelId, cheap.toLowerCase())
    assert.equal(p.skipped[0]!.cause, 'below-gas-cost')
    assert.equal(p.skipped[0]!.writtenOff, true)
    // Once: later passes, and a restarted settler, do not weigh it again.
    await settler.check()
    await settler.check()
    const restarted = p.settler()
    await restarted.check()
    assert.equal(p.skipped.length, 1)

    const [off] = await restarted.writeOffs()
    assert.equal(off?.channelId, cheap.toLowerCase())
    assert.equal(off.amount, SMALL)
    assert.equal(off.token, zeroAddress)
    assert.equal(off.estimatedCost, off.estimatedGas * off.feePerGas)
    assert.ok(off.estimatedCost > off.amount)
    const earnings = await restarted.earnings()
    assertNeverNegative(earnings)
    const [eth] = earnings.tokens
    assert.equal(eth!.writtenOff, SMALL)
    assert.deepEqual(
      eth!.channels.map((c) => [c.channelId, c.paid > 0n, c.writtenOff]),
      [
        [cheap.toLowerCase(), false, SMALL],
        [dear.toLowerCase(), true, 0n],
      ].sort((a, b) => ((a[0] as string) < (b[0] as string) ? -1 : 1)),
    )
    assert.equal(eth!.net, (await providerEth()) - before)

    // The renter takes the written-off amount back; the provider spent nothing on it.
    await f.chain.increaseTime(BigInt(f.chain.challengePeriod) + 1n)
    assert.equal((await getChannel(f.publicClient, { contract: f.chain.contract, channelId: cheap })).settled, 0n)
    const { refund } = await withdrawChannel(f.renter.wallet, { contract: f.chain.contract, channelId: cheap })
    assert.equal(refund, 10n ** 12n)
  })

  it('settle on command below its gas is skipped and reported; with force it is settled', async () => {
    const p = await provider('command')
    const settler = p.settler()
    const channelId = await openTestChannel()
    const total = await lease(p.receiver, channelId, 2, SMALL)
    const before = await providerEth()

    const one = await settler.settleWithReport(channelId)
    assert.deepEqual(one.settled, [])
    const [skip] = one.skipped
    assert.equal(skip?.channelId, channelId.toLowerCase())
    assert.equal(skip.reason, 'command')
    assert.equal(skip.cause, 'below-gas-cost')
    assert.equal(skip.gain, total)
    assert.equal(skip.settled, 0n)
    assert.equal(skip.kind, 'ticks')
    assert.equal(skip.requiredGain, skip.estimatedCost + 1n)
    // Every channel on command: reported too.
    const all = await settler.settleWithReport()
    assert.deepEqual(
      all.skipped.map((s) => [s.channelId, s.gain]),
      [[channelId.toLowerCase(), total]],
    )
    assert.deepEqual(await settler.settle(), [])
    assert.equal(await providerEth(), before)

    const [forced] = await settler.settle(channelId, { force: true })
    assert.equal(forced?.paid, total)
    assert.equal(await providerEth(), before + total - forced!.gasCost)
    assert.equal((await getChannel(f.publicClient, { contract: f.chain.contract, channelId })).settled, total)
  })

  it('ERC-20: without a token rate only the close window or a command settles; with one, gas is priced in tokens', async () => {
    const p = await provider('token')
    const token = f.chain.token
    const channelId = await openTestChannel(DEPOSIT, token)
    const total = await lease(p.receiver, channelId, 3, SMALL)

    const unpriced = await p.settler({ threshold: 1n }).settleWithReport(channelId, { reason: 'lease-broken' })
    assert.deepEqual(unpriced.settled, [])
    assert.equal(unpriced.skipped[0]?.cause, 'no-token-rate')
    assert.equal(unpriced.skipped[0]?.estimatedCostInToken, undefined)
    assert.equal(unpriced.skipped[0]?.requiredGain, undefined)
    assert.deepEqual(await p.settler({ threshold: 1n }).check(), [])

    // 1 token unit per wei: 3e9 units against ~6e13 wei of gas.
    const priced = p.settler({ tokenPerNativeWei: { numerator: 1n, denominator: 1n } })
    const report = await priced.settleWithReport(channelId, { reason: 'lease-broken' })
    assert.equal(report.skipped[0]?.cause, 'below-min-gain')
    assert.equal(report.skipped[0]?.estimatedCostInToken, report.skipped[0]?.estimatedCost)
    // A token worth a millionth of a wei per unit: the gas is ~6e19 units, still more than 3e9.
    const cheapToken = p.settler({ tokenPerNativeWei: { numerator: 1_000_000n, denominator: 1n } })
    const cheapReport = await cheapToken.settleWithReport(channelId)
    assert.equal(cheapReport.skipped[0]?.cause, 'below-gas-cost')
    assert.equal(cheapReport.skipped[0]?.estimatedCostInToken, cheapReport.skipped[0]!.estimatedCost * 1_000_000n)
    // A token worth a billion wei per unit: the gas is ~6e4 units, well under 3e9.
    const dearToken = p.settler({ tokenPerNativeWei: { numerator: 1n, denominator: 10n ** 9n } })
    const tokensBefore = await balanceOf(f, f.provider.account.address, token)
    const [settled] = await dearToken.settle(channelId, { reason: 'lease-broken' })
    assert.equal(settled?.paid, total)
    assert.equal(settled.token.toLowerCase(), token.toLowerCase())
    assert.equal(await balanceOf(f, f.provider.account.address, token), tokensBefore + total)
    const earnings = await dearToken.earnings()
    const erc20 = earnings.tokens.find((t) => !t.native)!
    assert.equal(erc20.paid, total)
    assert.equal(erc20.net, total)
    assert.equal(erc20.gasSpent, settled.gasCost)
  })

  it('settles the last voucher when the ticks above it gain less than their extra gas (estimated)', async () => {
    const p = await provider('tick-gain')
    const settler = p.settler()
    const proofs = async (price: bigint) => {
      const channelId = await openTestChannel()
      const voucherTotal = await lease(p.receiver, channelId, 2, BIG)
      await p.receiver.acceptVoucher(await renter.signVoucher(channelId), { channelId })
      const total = await lease(p.receiver, channelId, 3, price)
      assert.equal(p.receiver.bestProof(channelId)?.kind, 'ticks')
      return { channelId, voucherTotal, total }
    }
    // Three ticks of SMALL above the voucher: worth far less than a tick proof's extra gas over a voucher's.
    const small = await proofs(SMALL)
    const [byVoucher] = await settler.settle(small.channelId)
    assert.equal(byVoucher?.kind, 'voucher')
    assert.equal(byVoucher.paid, small.voucherTotal)
    // The ticks stay settleable, but alone they are not worth their gas.
    const rest = await settler.settleWithReport(small.channelId)
    assert.equal(rest.skipped[0]?.gain, small.total - small.voucherTotal)
    assert.equal(rest.skipped[0]?.kind, 'ticks')
    // Three ticks of BIG above it: worth the extra gas.
    const big = await proofs(BIG)
    const [byTicks] = await settler.settle(big.channelId)
    assert.equal(byTicks?.kind, 'ticks')
    assert.equal(byTicks.paid, big.total)
  })

  it('history() and earnings() match the receipts and balance changes to the wei', async () => {
    const p = await provider('history')
    const settler = p.settler({ threshold: 5n * BIG })
    const byTicks = await openTestChannel()
    const byVoucher = await openTestChannel()
    const inToken = await openTestChannel(DEPOSIT, f.chain.token)
    const ethBefore = await providerEth()
    const tokenBefore = await balanceOf(f, f.provider.account.address, f.chain.token)

    const ticksTotal = await lease(p.receiver, byTicks, 6, BIG)
    await lease(p.receiver, byVoucher, 2, BIG)
    await p.receiver.acceptVoucher(await renter.signVoucher(byVoucher), { channelId: byVoucher })
    const tokenTotal = await lease(p.receiver, inToken, 4, BIG)
    const [threshold] = await settler.check()
    assert.equal(threshold?.channelId, byTicks.toLowerCase())
    const [voucher] = await settler.settle(byVoucher)
    const [tokens] = await settler.settle(inToken)
    // A second settlement on the first channel.
    const more = await lease(p.receiver, byTicks, 6, BIG)
    const [second] = await settler.check()
    assert.equal(second?.paid, more - ticksTotal)

    const history = await settler.history()
    assert.deepEqual(
      history.map((r) => [r.channelId, r.reason, r.kind, r.status]),
      [
        [byTicks.toLowerCase(), 'threshold', 'ticks', 'settled'],
        [byVoucher.toLowerCase(), 'command', 'voucher', 'settled'],
        [inToken.toLowerCase(), 'command', 'ticks', 'settled'],
        [byTicks.toLowerCase(), 'threshold', 'ticks', 'settled'],
      ],
    )
    for (const [record, result] of history.map((r, i) => [r, [threshold, voucher, tokens, second][i]!] as const)) {
      const receipt = await f.publicClient.getTransactionReceipt({ hash: record.transactionHash })
      assert.equal(record.transactionHash, result.transactionHash)
      assert.equal(record.gasUsed, receipt.gasUsed)
      assert.equal(record.effectiveGasPrice, receipt.effectiveGasPrice)
      assert.equal(record.gasCost, receipt.gasUsed * receipt.effectiveGasPrice)
      assert.equal(record.paid, result.paid)
      assert.equal(record.total, result.total)
      assert.ok(record.settledAt > 0)
    }
    const gas = history.reduce((sum, r) => sum + r.gasCost, 0n)
    const earnings = await settler.earnings()
    assert.equal(earnings.gasSpent, gas)
    const [eth, erc20] = earnings.tokens
    assert.equal(eth?.native, true)
    assert.equal(eth.paid, more + 2n * BIG)
    assert.equal(eth.settlements, 3)
    assert.equal(
      eth.gasSpent,
      history.filter((r) => r.token === zeroAddress).reduce((s, r) => s + r.gasCost, 0n),
    )
    assert.equal(eth.net, eth.paid - eth.gasSpent)
    assert.equal(erc20?.native, false)
    assert.equal(erc20.paid, tokenTotal)
    assert.equal(erc20.net, tokenTotal)
    assert.equal(erc20.gasSpent, tokens!.gasCost)
    // On-chain: the provider's ETH moved by what native channels paid minus all the gas; its tokens by what they paid.
    assert.equal(await providerEth(), ethBefore + eth.paid - earnings.gasSpent)
    assert.equal(await balanceOf(f, f.provider.account.address, f.chain.token), tokenBefore + tokenTotal)
    assert.deepEqual(
      eth.channels.map((c) => [c.channelId, c.paid, c.settlements]),
      [
        [byTicks.toLowerCase(), more, 2],
        [byVoucher.toLowerCase(), 2n * BIG, 1],
      ].sort((a, b) => ((a[0] as string) < (b[0] as string) ? -1 : 1)),
    )
  })

  it('a settlement sent but not seen confirmed before a crash is recorded once from its receipt', async () => {
    const p = await provider('unseen')
    const channelId = await openTestChannel()
    const total = await lease(p.receiver, channelId, 5, BIG)
    // The provider's RPC fails every receipt: the transaction is mined, the settler never sees it confirmed (as if
    // the process had died after sending).
    const proxy = await startRpcProxy(f.chain.rpcUrl)
    proxy.failReceipts = true
    try {
      const wallet = createPayWalletClient({ ...f.chain, rpcUrl: proxy.url }, f.provider.account)
      await rejectsWithCode(p.settler({}, wallet).settle(channelId), 'CHAIN_ERROR')
    } finally {
      await proxy.close()
    }
    const [pending] = await p.store.list<PendingSettlement>('settle/pending/')
    assert.equal(pending?.[1].total, total)
    assert.match(pending[1].transactionHash ?? '', /^0x[0-9a-f]{64}$/)
    assert.equal((await getChannel(f.publicClient, { contract: f.chain.contract, channelId })).settled, total)

    const settled: string[] = []
    const settler = p.settler({
      onEvent: (e) => {
        if (e.type === 'settle:settled') settled.push(`${e.result.reason}:${e.result.paid}`)
      },
    })
    await settler.start()
    await settler.stop()
    assert.deepEqual(settled, [`resume:${total}`])
    assert.deepEqual(await settler.pending(), [])
    const history = await settler.history()
    assert.equal(history.length, 1)
    assert.equal(history[0]!.reason, 'command')
    assert.equal(history[0]!.paid, total)
    const receipt = await f.publicClient.getTransactionReceipt({ hash: history[0]!.transactionHash })
    assert.equal(history[0]!.gasCost, receipt.gasUsed * receipt.effectiveGasPrice)
    // Nothing more to send.
    assert.deepEqual(await settler.settle(channelId, { force: true }), [])
  })
})
