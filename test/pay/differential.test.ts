import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import * as fc from 'fast-check'
import { normalizeSignature } from '../../src/pay/eip712.js'
import { PAYMENT_CHECKS } from '../../src/pay/errors.js'
import type { PaymentReceiver } from '../../src/pay/payment-receiver.js'
import {
  addToStats,
  type CommitmentStep,
  caseArbitrary,
  checkRuleTables,
  createDifferentialWorld,
  type DifferentialCase,
  type DifferentialWorld,
  emptyStats,
  formatDisagreements,
  honestLeaseArbitrary,
  runCase,
  runHonestLease,
  type Step,
} from './differential.js'

/** Seeded: a failure replays with the same seed (fast-check prints it, with the shrunk case). */
const SEED = 20_240_611
const ADVERSARIAL_RUNS = 200
const HONEST_RUNS = 30

const honestSigning = { signer: 'channelRenter', domain: 'labels', payload: 'message', mutation: 'none' } as const
const ownLabels = { chainId: 'channel', contract: 'channel' } as const
const honestLease: CommitmentStep = {
  kind: 'commitment',
  channel: 'A',
  lease: 'new',
  hashFunction: 'keccak256',
  maxTicks: 'honest',
  amountPerTick: 'honest',
  baseAmount: 'honest',
  labels: ownLabels,
  signing: honestSigning,
  expect: { channel: 'same', lease: 'same', amountPerTick: 'same' },
}

/**
 * The past bug, put back: a receiver that, like viem's recovery, takes a high-s signature (it normalises one before
 * the real checks see it). The harness must catch it.
 */
function toleratingHighS(receiver: PaymentReceiver): PaymentReceiver {
  return new Proxy(receiver, {
    get(target, property) {
      if (property === 'acceptVoucher') {
        return (v: Parameters<PaymentReceiver['acceptVoucher']>[0], ...rest: any[]) =>
          target.acceptVoucher({ ...v, signature: normalizeSignature(v.signature) }, ...rest)
      }
      if (property === 'acceptCommitment') {
        return (s: Parameters<PaymentReceiver['acceptCommitment']>[0], ...rest: [any, any]) =>
          target.acceptCommitment({ ...s, signature: normalizeSignature(s.signature) }, ...rest)
      }
      const value = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

describe('payment receiver vs PaymentChannel.sol: differential properties (anvil, fast-check)', () => {
  let world: DifferentialWorld
  before(async () => {
    world = await createDifferentialWorld()
  })
  after(async () => {
    await world?.stop()
  })

  it('judges each rule in the order PAYMENT_CHECKS documents (the harness rule tables follow it)', () => {
    assert.doesNotThrow(checkRuleTables)
  })

  it('acknowledges a payment if and only if the contract would settle it, refusing with the first rule broken', async (t) => {
    const stats = emptyStats()
    await fc.assert(
      fc.asyncProperty(caseArbitrary(), async (c) => {
        const report = await runCase(world, c)
        addToStats(stats, c, report)
        if (report.disagreements.length > 0) throw new Error(formatDisagreements(report))
      }),
      { numRuns: ADVERSARIAL_RUNS, seed: SEED },
    )
    t.diagnostic(
      `${stats.cases} cases, ${stats.messages} messages, acknowledged ${JSON.stringify(stats.acknowledged)}, refused ${JSON.stringify(stats.refused)}`,
    )
    // The generator must keep reaching every outcome: a case mix that only ever produced one refusal would pass
    // vacuously.
    assert.ok(stats.acknowledged.commitment > 50 && stats.acknowledged.tick > 50 && stats.acknowledged.voucher > 10)
    for (const kind of ['commitment', 'voucher'] as const) {
      for (const code of PAYMENT_CHECKS[kind])
        assert.ok(stats.refused[kind][code] != null, `no ${kind} refused ${code}`)
    }
    for (const code of ['UNKNOWN_LEASE', 'TICK_OUT_OF_RANGE', 'INVALID_PREIMAGE', 'CHANNEL_CLOSING']) {
      assert.ok(stats.refused.tick[code] != null, `no tick refused ${code}`)
    }
  })

  it("an honest renter's leases are acknowledged tick by tick and conserve money to the wei", async () => {
    await fc.assert(
      fc.asyncProperty(honestLeaseArbitrary(), async (c) => {
        const report = await runHonestLease(world, c)
        if (report.disagreements.length > 0) throw new Error(formatDisagreements(report))
        assert.ok(report.messages.filter((m) => m.kind === 'tick').every((m) => m.outcome === 'ACK'))
      }),
      { numRuns: HONEST_RUNS, seed: SEED },
    )
  })

  it('would have caught the high-s bug: a receiver taking malleable signatures fails, shrunk to a high-s message', async (t) => {
    const result = await fc.check(
      fc.asyncProperty(caseArbitrary(), async (c) => {
        const report = await runCase(world, c, { wrap: toleratingHighS })
        if (report.disagreements.some((d) => d.type === 'safety')) throw new Error(formatDisagreements(report))
      }),
      { numRuns: 200, seed: SEED },
    )
    assert.equal(result.failed, true, 'the harness did not notice acknowledged high-s signatures')
    const shrunk = result.counterexample![0] as DifferentialCase
    const signed = shrunk.steps.filter((s) => s.kind === 'commitment' || s.kind === 'voucher')
    assert.ok(
      signed.some((s) => s.signing.mutation === 'highS' || s.signing.mutation === 'highSv01'),
      `shrunk to ${fc.stringify(shrunk)}`,
    )
    assert.ok(shrunk.steps.length <= 2, `not shrunk: ${fc.stringify(shrunk)}`)
    t.diagnostic(`shrunk to ${fc.stringify(shrunk)}`)
  })

  it('regression: a voucher and a commitment within a deposit topped up since the receiver last read it', async () => {
    // Found by the property above. The receiver reads the deposit through its cache; acceptTick re-reads it when a
    // tick goes past the cached deposit ("the renter may have topped up"), acceptVoucher and acceptCommitment do not,
    // so until the cache entry expires they refuse AMOUNT_EXCEEDS_DEPOSIT what the contract would settle.
    const voucherCase: DifferentialCase = {
      receiver: { sha256: false, smallCap: false },
      steps: [
        {
          kind: 'voucher',
          channel: 'A',
          total: 'aboveSettled',
          labels: ownLabels,
          signing: honestSigning,
          expect: 'same',
        },
        { kind: 'topUp', channel: 'A', amount: 'large', observed: false },
        { kind: 'voucher', channel: 'A', total: 'deposit', labels: ownLabels, signing: honestSigning, expect: 'same' },
      ],
    }
    const commitmentCase: DifferentialCase = {
      receiver: { sha256: false, smallCap: false },
      steps: [
        honestLease,
        { kind: 'topUp', channel: 'A', amount: 'large', observed: false },
        { ...honestLease, baseAmount: 'firstTickAtDeposit' },
      ],
    }
    const tickCase: DifferentialCase = {
      receiver: { sha256: false, smallCap: false },
      steps: [
        { ...honestLease, baseAmount: 'firstTickAtDeposit' },
        { kind: 'topUp', channel: 'A', amount: 'large', observed: false },
        { kind: 'tick', channel: 'A', lease: 'current', preimage: 'next', index: 'right' },
        { kind: 'tick', channel: 'A', lease: 'current', preimage: 'next', index: 'right' },
      ],
    }
    // The tick path already does it right: the harness agrees with it.
    assert.equal(formatDisagreements(await runCase(world, tickCase)), '')
    const found = [
      formatDisagreements(await runCase(world, voucherCase)),
      formatDisagreements(await runCase(world, commitmentCase)),
    ]
    assert.deepEqual(found, ['', ''])
  })

  it('regression: a lease id reused on another channel, with no lease id expected', async () => {
    // Found by the property above (its 'otherChannel' leases). The receiver keys leases by lease id alone but
    // retires them per channel: a commitment on A under B's current lease id takes that lease over, and B's next
    // lease then retires A's lease and deletes A's commitment although A's best proof (its acknowledged ticks) needs
    // it. A keeps its acknowledged total and loses the proof: nothing to settle it with. Not reachable through
    // LeaseProvider, which always expects a fresh lease id of its own; reachable through the receiver's API.
    const tick: Step = { kind: 'tick', channel: 'leased', lease: 'current', preimage: 'next', index: 'right' }
    const c: DifferentialCase = {
      receiver: { sha256: false, smallCap: false },
      steps: [
        { ...honestLease, channel: 'B' },
        tick,
        {
          ...honestLease,
          lease: 'otherChannel',
          expect: { channel: 'same', lease: 'omit', amountPerTick: 'same' },
        },
        tick,
        tick,
        { ...honestLease, channel: 'B' },
      ],
    }
    assert.equal(formatDisagreements(await runCase(world, c)), '')
  })
})
