/**
 * A differential harness for the provider's payment checks: the off-chain `PaymentReceiver` against the contract
 * it stands in for. The receiver must acknowledge a payment if and only if PaymentChannel.sol, on a real anvil,
 * would settle it (up to the staleness rules written down below), and must refuse everything else with the code
 * of the first rule the message breaks, in the order `PAYMENT_CHECKS` documents.
 *
 * fast-check generates cases: a receiver configuration and a short sequence of steps against a fixed set of channels
 * (two ETH channels and a token channel to this provider's node, plus channels to another provider, to another node,
 * on another contract, of another renter, withdrawn, and missing). A step is a payment message (commitment, re-anchor,
 * tick, voucher) built honestly and then, field by field, adversarially (malleable and malformed signatures, the
 * wrong signer, signatures for other channels, chains and contracts, wrong leases and channels, amounts at and around
 * the deposit, what was settled and what was acknowledged, maxTicks around the cap, sha256 chains, ticks out of
 * order, replayed or past maxTicks), or a chain event (the provider settles, the renter tops up, requests close,
 * withdraws; an hour passes; the provider restarts). Steps are symbolic ("the base at the known total minus one"),
 * so they shrink and replay against whatever state the earlier steps left.
 *
 * For each message, after the receiver resolves or throws, the harness asks the contract, by `eth_call` from the
 * provider's account (no state change), whether the same proof would settle right now, and checks:
 *   safety   acknowledged => the contract settles it, for a positive amount (see {@link Oracle});
 *   liveness the contract settles it and it is current ({@link currentVoucher}, {@link currentCommitment},
 *            {@link currentTick}) => acknowledged;
 *   order    the outcome is the first rule of `PAYMENT_CHECKS[kind]` the message breaks, or an acknowledgement when
 *            it breaks none ({@link COMMITMENT_RULES}, {@link TICK_RULES}, {@link VOUCHER_RULES}: each rule judged
 *            from the message, the receiver's view of the channel (its cache entry, else the chain), the contract's
 *            own digests and ecrecover, and the harness's record of what was acknowledged; never from the
 *            receiver's code). A refusal with another code is an `order` disagreement, an acknowledgement of a
 *            message that breaks a rule (or a refusal of one that breaks none) a `rules` disagreement;
 *   state    the receiver's channel total, best proof and best voucher are the ones its acknowledgements imply, and
 *            the best proof settles on-chain for its total;
 *   money    at the end of a case, after the provider settles its best proofs, every channel conserves money to the
 *            wei (test/helpers/money.ts).
 * Every case runs between `evm_snapshot` and `evm_revert` with a fresh store and receiver, so cases are independent.
 * The provider's own settlements drop its cache entry (as the Settler does); renter transactions may go unnoticed
 * (`observed: false`), so the receiver's view can lag the chain as it does in a daemon within the cache's TTL.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as fc from 'fast-check'
import {
  type Address,
  BaseError,
  bytesToHex,
  ContractFunctionRevertedError,
  concat,
  encodeAbiParameters,
  type Hex,
  hexToBytes,
  isAddressEqual,
  keccak256,
  type LocalAccount,
  toBytes,
  zeroAddress,
} from 'viem'
import { call, readContract, simulateContract } from 'viem/actions'
import { requestClose, withdrawChannel } from '../../src/pay/actions/close-channel.js'
import { deployPaymentChannel } from '../../src/pay/actions/deploy.js'
import { openChannel } from '../../src/pay/actions/open-channel.js'
import { settleProof, settleVoucher } from '../../src/pay/actions/settle-channel.js'
import { topUpChannel } from '../../src/pay/actions/top-up-channel.js'
import { ChannelStateCache } from '../../src/pay/channel-state-cache.js'
import { MAX_AMOUNT, MAX_PROOF_TICKS } from '../../src/pay/constants.js'
import { PAYMENT_CHANNEL_ABI } from '../../src/pay/contract/artifact.js'
import { signTickCommitment, signVoucher } from '../../src/pay/eip712.js'
import { PAYMENT_CHECKS, PayError } from '../../src/pay/errors.js'
import { HashChain } from '../../src/pay/hash-chain.js'
import { createPaymentReceiver, type PaymentReceiver } from '../../src/pay/payment-receiver.js'
import { createPaymentSender } from '../../src/pay/payment-sender.js'
import { createPaymentStore, type PaymentStore } from '../../src/pay/payment-store.js'
import type { HashFunctionName, SignedTickCommitment, TickCommitment, Voucher } from '../../src/pay/types.js'
import { assertMoneyConserved, type ChannelMoney } from '../helpers/money.js'
import { type PayFixture, setupPayFixture } from './helpers.js'

// ---------------------------------------------------------------------------------------------------------------
// Constants of the world
// ---------------------------------------------------------------------------------------------------------------

/** Every channel in play starts with this deposit (wei, or dev-token base units). */
export const DEPOSIT = 1_000n
/** The provider's quoted price per tick. */
const PRICE = 7n
/** The receiver's cap on maxTicks when a case asks for a small one. */
const SMALL_CAP = 4
/** An honest commitment covers this many ticks (or the cap, if lower). */
const HONEST_MAX_TICKS = 30
/** The other chain id signatures are replayed from. */
const OTHER_CHAIN_ID = 1
/** secp256k1's order, and the contract's bound on s (MAX_S = n / 2). */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const MAX_S = SECP256K1_N >> 1n
const UINT256_MAX = (1n << 256n) - 1n
const UINT32_MAX = 2 ** 32 - 1
/** The contract's hashFunction numbers (PaymentChannel.sol HASH_KECCAK256, HASH_SHA256). */
const HASH_IDS: Record<HashFunctionName, number> = { keccak256: 0, sha256: 1 }
/** A case's steps; the harness's chains are long enough that no sequence this long exhausts one. */
export const MAX_STEPS = 14
/** anvil's ecrecover precompile. */
const ECRECOVER = '0x0000000000000000000000000000000000000001'

export const MAIN_CHANNELS = ['A', 'B', 'T'] as const
export type MainChannel = (typeof MAIN_CHANNELS)[number]
/**
 * The channels in play. A, B (ETH) and T (dev token): renter -> this provider's node, on the receiver's contract.
 * The others each break one binding: `toOtherProvider` pays another address, `toOtherNode` is bound to another node
 * of this provider, `onOtherContract` lives on a second PaymentChannel deployment, `ofStranger` has another renter,
 * `withdrawn` existed and was withdrawn, `missing` never existed.
 */
export type ChannelName =
  | MainChannel
  | 'toOtherProvider'
  | 'toOtherNode'
  | 'onOtherContract'
  | 'ofStranger'
  | 'withdrawn'
  | 'missing'

// ---------------------------------------------------------------------------------------------------------------
// Steps: symbolic, so that fast-check can shrink them and they replay against any state
// ---------------------------------------------------------------------------------------------------------------

export type SignatureMutation =
  | 'none'
  /** s' = n - s with v flipped: recovers the same signer with viem, refused by the contract (the past bug). */
  | 'highS'
  /** The same, with v written as 0/1. */
  | 'highSv01'
  /** v as 0/1 instead of 27/28 (the contract adds 27: accepted by both). */
  | 'v01'
  /** The other v: a well-formed signature of someone else. */
  | 'vFlipped'
  | 'v2'
  | 'v29'
  | 'v255'
  | 'zeroR'
  | 'zeroS'
  /** s exactly n / 2 (the largest the contract takes) and one above it. */
  | 'sMax'
  | 'sAboveMax'
  | 'rAboveN'
  /** 64 bytes (what viem reads as a compact signature), 66 bytes, none. */
  | 'truncated'
  | 'extraByte'
  | 'empty'

export interface Signing {
  /** The channel's renter (honest), or the other key. */
  signer: 'channelRenter' | 'other'
  /** The domain signed: the message's labels, or the same message for another chain id / contract (a replay). */
  domain: 'labels' | 'otherChain' | 'otherContract'
  /** What is signed: the message, or the same message for another channel / another amount (a pasted signature). */
  payload: 'message' | 'otherChannel' | 'otherAmount'
  mutation: SignatureMutation
}

/** The chain id and contract a message says it is for: its channel's own, or another. */
export interface Labels {
  chainId: 'channel' | 'other'
  contract: 'channel' | 'other'
}

export interface CommitmentStep {
  kind: 'commitment'
  channel: ChannelName
  /**
   * new: a fresh lease id and chain. renew: the channel's current lease id, a fresh chain. reanchor: the current
   * lease, its tip the last revealed value (PaymentSender.reanchor). replay: the channel's last built commitment again.
   * otherChannel: a fresh chain under the lease id of another channel's current lease (LeaseProvider always expects
   * a fresh lease id of its own; the receiver's API lets a caller expect none).
   */
  lease: 'new' | 'renew' | 'reanchor' | 'replay' | 'otherChannel'
  hashFunction: HashFunctionName
  maxTicks: 'honest' | 'one' | 'few' | 'zero' | 'cap' | 'overCap' | 'overUint32' | 'negative' | 'fraction'
  amountPerTick: 'honest' | 'one' | 'zero' | 'wholeDeposit' | 'overDeposit' | 'maxAmount' | 'overMaxAmount' | 'negative'
  /** Relative to the known total: max(acknowledged best, settled). The deposit ones place tick 1 or 2 at it. */
  baseAmount:
    | 'honest'
    | 'belowKnown'
    | 'aboveKnown'
    | 'belowSettled'
    | 'zero'
    | 'firstTickAtDeposit'
    | 'firstTickOverDeposit'
    | 'secondTickAtDeposit'
    | 'overMaxAmount'
    | 'negative'
  labels: Labels
  signing: Signing
  /** What the provider's lease expects (LeaseProvider passes all three). */
  expect: { channel: 'same' | ChannelName; lease: 'same' | 'other' | 'omit'; amountPerTick: 'same' | 'other' | 'omit' }
}

export interface TickStep {
  kind: 'tick'
  /** 'leased': the channel of the last acknowledged commitment (A if none). */
  channel: 'leased' | MainChannel
  /** Whose chain the tick comes from: the channel's current lease, its last retired one, its last refused one, none. */
  lease: 'current' | 'retired' | 'refused' | 'unknown'
  /** next: the honest next preimage; replay: the last revealed; skip: the one after next. */
  preimage: 'next' | 'replay' | 'skip' | 'random' | 'short' | 'long' | 'otherLease'
  index: 'right' | 'omit' | 'behind' | 'ahead'
}

export type VoucherAmount =
  | 'honest'
  | 'aheadByTick'
  | 'best'
  | 'aboveBest'
  | 'belowBest'
  | 'lastVoucher'
  | 'aboveLastVoucher'
  | 'settled'
  | 'aboveSettled'
  | 'belowSettled'
  | 'deposit'
  | 'belowDeposit'
  | 'overDeposit'
  | 'zero'
  | 'negative'
  | 'overMaxAmount'

export interface VoucherStep {
  kind: 'voucher'
  channel: ChannelName
  total: VoucherAmount
  labels: Labels
  signing: Signing
  expect: 'same' | 'omit' | ChannelName
}

/** The provider settles on-chain: its best proof, its best voucher, or a renter voucher it got out of band. */
export interface SettleStep {
  kind: 'settle'
  channel: MainChannel
  proof: 'best' | 'bestVoucher' | 'outOfBand'
  total: VoucherAmount
}

/**
 * Renter transactions. `observed`: the provider learns of it at once (its cache entry is dropped, as the settler
 * does on a CloseRequested event); otherwise the receiver keeps its cached channel state.
 */
export interface TopUpStep {
  kind: 'topUp'
  channel: MainChannel
  amount: 'small' | 'large'
  observed: boolean
}
export interface RequestCloseStep {
  kind: 'requestClose'
  channel: MainChannel
  observed: boolean
}
export interface WithdrawStep {
  kind: 'withdraw'
  channel: MainChannel
  observed: boolean
}
/** The challenge window passes (the settler first answers every close request with the best proof). */
export interface PassWindowStep {
  kind: 'passWindow'
}
/** The provider restarts: the receiver reloads from its store, with an empty channel cache. */
export interface RestartStep {
  kind: 'restart'
}

export type Step =
  | CommitmentStep
  | TickStep
  | VoucherStep
  | SettleStep
  | TopUpStep
  | RequestCloseStep
  | WithdrawStep
  | PassWindowStep
  | RestartStep

export interface ReceiverConfig {
  /** Accept sha256 chains too (default: keccak256 only). */
  sha256: boolean
  /** Cap maxTicks at SMALL_CAP instead of the default MAX_PROOF_TICKS. */
  smallCap: boolean
}

export interface DifferentialCase {
  receiver: ReceiverConfig
  steps: Step[]
}

// ---------------------------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------------------------

/** A weighted choice that shrinks towards its first (honest) option. */
function pick<T>(...options: Array<[T, number]>): fc.Arbitrary<T> {
  return fc.oneof(
    { withCrossShrink: true },
    ...options.map(([value, weight]) => ({ arbitrary: fc.constant(value), weight })),
  )
}

const channelArbitrary = pick<ChannelName>(
  ['A', 60],
  ['B', 12],
  ['T', 10],
  ['toOtherProvider', 3],
  ['toOtherNode', 3],
  ['onOtherContract', 3],
  ['ofStranger', 3],
  ['withdrawn', 2],
  ['missing', 2],
)
const mainChannelArbitrary = pick<MainChannel>(['A', 75], ['B', 12], ['T', 13])
const otherChannelArbitrary = pick<'same' | ChannelName>(
  ['same', 92],
  ['B', 2],
  ['A', 2],
  ['toOtherProvider', 1],
  ['missing', 1],
  ['onOtherContract', 1],
  ['T', 1],
)

const mutationArbitrary = pick<SignatureMutation>(
  ['none', 150],
  ['highS', 8],
  ['highSv01', 4],
  ['v01', 6],
  ['vFlipped', 3],
  ['v2', 2],
  ['v29', 2],
  ['v255', 1],
  ['zeroR', 2],
  ['zeroS', 2],
  ['sMax', 2],
  ['sAboveMax', 2],
  ['rAboveN', 1],
  ['truncated', 2],
  ['extraByte', 2],
  ['empty', 1],
)

const signingArbitrary: fc.Arbitrary<Signing> = fc.record({
  signer: pick<Signing['signer']>(['channelRenter', 94], ['other', 6]),
  domain: pick<Signing['domain']>(['labels', 92], ['otherChain', 4], ['otherContract', 4]),
  payload: pick<Signing['payload']>(['message', 93], ['otherChannel', 4], ['otherAmount', 3]),
  mutation: mutationArbitrary,
})

const labelsArbitrary: fc.Arbitrary<Labels> = fc.record({
  chainId: pick<Labels['chainId']>(['channel', 95], ['other', 5]),
  contract: pick<Labels['contract']>(['channel', 95], ['other', 5]),
})

const commitmentArbitrary: fc.Arbitrary<CommitmentStep> = fc.record({
  kind: fc.constant('commitment' as const),
  channel: channelArbitrary,
  lease: pick<CommitmentStep['lease']>(
    ['new', 50],
    ['renew', 12],
    ['reanchor', 30],
    ['replay', 8],
    ['otherChannel', 3],
  ),
  hashFunction: pick<HashFunctionName>(['keccak256', 92], ['sha256', 8]),
  maxTicks: pick<CommitmentStep['maxTicks']>(
    ['honest', 80],
    ['one', 5],
    ['few', 10],
    ['zero', 3],
    ['cap', 4],
    ['overCap', 4],
    ['overUint32', 1],
    ['negative', 1],
    ['fraction', 1],
  ),
  amountPerTick: pick<CommitmentStep['amountPerTick']>(
    ['honest', 90],
    ['one', 3],
    ['zero', 3],
    ['wholeDeposit', 3],
    ['overDeposit', 3],
    ['maxAmount', 1],
    ['overMaxAmount', 1],
    ['negative', 1],
  ),
  baseAmount: pick<CommitmentStep['baseAmount']>(
    ['honest', 75],
    ['belowKnown', 5],
    ['aboveKnown', 4],
    ['belowSettled', 3],
    ['zero', 3],
    ['firstTickAtDeposit', 3],
    ['firstTickOverDeposit', 3],
    ['secondTickAtDeposit', 2],
    ['overMaxAmount', 1],
    ['negative', 1],
  ),
  labels: labelsArbitrary,
  signing: signingArbitrary,
  expect: fc.record({
    channel: otherChannelArbitrary,
    lease: pick<'same' | 'other' | 'omit'>(['same', 94], ['other', 3], ['omit', 3]),
    amountPerTick: pick<'same' | 'other' | 'omit'>(['same', 94], ['other', 3], ['omit', 3]),
  }),
})

const tickArbitrary: fc.Arbitrary<TickStep> = fc.record({
  kind: fc.constant('tick' as const),
  channel: pick<TickStep['channel']>(['leased', 85], ['A', 5], ['B', 5], ['T', 5]),
  lease: pick<TickStep['lease']>(['current', 88], ['retired', 6], ['refused', 4], ['unknown', 2]),
  preimage: pick<TickStep['preimage']>(
    ['next', 80],
    ['replay', 6],
    ['skip', 5],
    ['random', 3],
    ['short', 2],
    ['long', 2],
    ['otherLease', 2],
  ),
  index: pick<TickStep['index']>(['right', 80], ['omit', 10], ['behind', 5], ['ahead', 5]),
})

const voucherAmountArbitrary = pick<VoucherAmount>(
  ['honest', 50],
  ['aheadByTick', 6],
  ['best', 4],
  ['aboveBest', 4],
  ['belowBest', 4],
  ['lastVoucher', 3],
  ['aboveLastVoucher', 3],
  ['settled', 3],
  ['aboveSettled', 3],
  ['belowSettled', 3],
  ['deposit', 4],
  ['belowDeposit', 3],
  ['overDeposit', 4],
  ['zero', 2],
  ['negative', 1],
  ['overMaxAmount', 1],
)

const voucherArbitrary: fc.Arbitrary<VoucherStep> = fc.record({
  kind: fc.constant('voucher' as const),
  channel: channelArbitrary,
  total: voucherAmountArbitrary,
  labels: labelsArbitrary,
  signing: signingArbitrary,
  expect: pick<'same' | 'omit' | ChannelName>(['same', 85], ['omit', 8], ['B', 3], ['A', 2], ['toOtherProvider', 2]),
})

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  { withCrossShrink: true },
  { weight: 36, arbitrary: tickArbitrary },
  { weight: 26, arbitrary: commitmentArbitrary },
  { weight: 20, arbitrary: voucherArbitrary },
  {
    weight: 7,
    arbitrary: fc.record({
      kind: fc.constant('settle' as const),
      channel: mainChannelArbitrary,
      proof: pick<SettleStep['proof']>(['best', 60], ['bestVoucher', 20], ['outOfBand', 20]),
      total: voucherAmountArbitrary,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('topUp' as const),
      channel: mainChannelArbitrary,
      amount: pick<TopUpStep['amount']>(['small', 50], ['large', 50]),
      observed: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('requestClose' as const),
      channel: mainChannelArbitrary,
      observed: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.constant<PassWindowStep>({ kind: 'passWindow' }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('withdraw' as const),
      channel: mainChannelArbitrary,
      observed: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.constant<RestartStep>({ kind: 'restart' }) },
)

/** A commitment with every field honest: a new lease on `channel` at the provider's price from the known total. */
function honestCommitment(channel: ChannelName): CommitmentStep {
  return {
    kind: 'commitment',
    channel,
    lease: 'new',
    hashFunction: 'keccak256',
    maxTicks: 'honest',
    amountPerTick: 'honest',
    baseAmount: 'honest',
    labels: { chainId: 'channel', contract: 'channel' },
    signing: { signer: 'channelRenter', domain: 'labels', payload: 'message', mutation: 'none' },
    expect: { channel: 'same', lease: 'same', amountPerTick: 'same' },
  }
}

/** Most cases open with a lease on a main channel (half of them honest), so the steps after it have ticks to send. */
const openingArbitrary: fc.Arbitrary<CommitmentStep> = fc.oneof(
  { withCrossShrink: true },
  mainChannelArbitrary.map(honestCommitment),
  commitmentArbitrary.chain((step) =>
    mainChannelArbitrary.map((channel) => ({ ...step, channel, lease: 'new' as const })),
  ),
)

/** A case: a receiver configuration and up to MAX_STEPS steps, usually opening with a lease. */
export function caseArbitrary(): fc.Arbitrary<DifferentialCase> {
  return fc
    .record({
      receiver: fc.record({
        sha256: pick<boolean>([false, 80], [true, 20]),
        smallCap: pick<boolean>([false, 80], [true, 20]),
      }),
      opening: fc.option(openingArbitrary, { freq: 6, nil: undefined }),
      steps: fc.array(stepArbitrary, { minLength: 1, maxLength: MAX_STEPS - 1, size: 'max' }),
    })
    .map(({ receiver, opening, steps }) => ({ receiver, steps: opening == null ? steps : [opening, ...steps] }))
}

// ---------------------------------------------------------------------------------------------------------------
// The world: a dev chain, two contracts, the channels in play
// ---------------------------------------------------------------------------------------------------------------

interface ChannelRef {
  id: Hex
  /** The contract the channel lives on. */
  contract: Address
  /** The key that opened it (the one that signs honestly for it). */
  renter: LocalAccount
}

export interface DifferentialWorld {
  fixture: PayFixture
  /** The receiver's contract, and a second deployment of the same code. */
  contract: Address
  otherContract: Address
  chainId: number
  challengePeriod: bigint
  channels: Record<ChannelName, ChannelRef>
  /** The contract's own EIP-712 pieces (its views), so signer checks do not go through src/pay/eip712.ts. */
  domainSeparator: Hex
  voucherTypehash: Hex
  commitmentTypehash: Hex
  dir: string
  /** Unique ids, seeds and store names across cases. */
  counter: number
  stop(): Promise<void>
}

async function rpc(world: DifferentialWorld, method: string, params: unknown[] = []): Promise<unknown> {
  return (world.fixture.publicClient.request as (args: { method: string; params: unknown[] }) => Promise<unknown>)({
    method,
    params,
  })
}

/** Start anvil, deploy a second PaymentChannel and open the channels in play (once; cases revert to this state). */
export async function createDifferentialWorld(): Promise<DifferentialWorld> {
  const f = await setupPayFixture()
  try {
    const contract = f.chain.contract
    const challengePeriod = BigInt(f.chain.challengePeriod)
    const { address: otherContract } = await deployPaymentChannel(f.provider.wallet, { challengePeriod })
    const open = async (
      party: PayFixture['renter'],
      params: { contract?: Address; provider?: Address; providerNode?: Hex; token?: Address },
    ): Promise<ChannelRef> => {
      const on = params.contract ?? contract
      const { channelId } = await openChannel(party.wallet, {
        contract: on,
        provider: params.provider ?? f.provider.account.address,
        providerNode: params.providerNode ?? f.providerNode,
        token: params.token,
        amount: DEPOSIT,
      })
      return { id: channelId, contract: on, renter: party.account }
    }
    const withdrawn = await open(f.renter, {})
    await requestClose(f.renter.wallet, { contract, channelId: withdrawn.id })
    await f.chain.increaseTime(challengePeriod + 1n)
    await withdrawChannel(f.renter.wallet, { contract, channelId: withdrawn.id })
    const channels: Record<ChannelName, ChannelRef> = {
      A: await open(f.renter, {}),
      B: await open(f.renter, {}),
      T: await open(f.renter, { token: f.chain.token }),
      toOtherProvider: await open(f.renter, { provider: f.stranger.account.address }),
      toOtherNode: await open(f.renter, { providerNode: keccak256(toBytes('another node of this provider')) }),
      onOtherContract: await open(f.renter, { contract: otherContract }),
      ofStranger: await open(f.stranger, {}),
      withdrawn,
      missing: { id: keccak256(toBytes('a channel nobody opened')), contract, renter: f.renter.account },
    }
    const view = <T>(functionName: 'domainSeparator' | 'VOUCHER_TYPEHASH' | 'TICK_COMMITMENT_TYPEHASH') =>
      readContract(f.publicClient, { address: contract, abi: PAYMENT_CHANNEL_ABI, functionName }) as Promise<T>
    const dir = await mkdtemp(join(tmpdir(), 'parkbench-differential-'))
    return {
      fixture: f,
      contract,
      otherContract,
      chainId: f.chain.chainId,
      challengePeriod,
      channels,
      domainSeparator: await view<Hex>('domainSeparator'),
      voucherTypehash: await view<Hex>('VOUCHER_TYPEHASH'),
      commitmentTypehash: await view<Hex>('TICK_COMMITMENT_TYPEHASH'),
      dir,
      counter: 0,
      async stop() {
        await f.chain.stop()
        await rm(dir, { recursive: true, force: true })
      },
    }
  } catch (err) {
    await f.chain.stop()
    throw err
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------------------------------------------

export type MessageKind = 'commitment' | 'tick' | 'voucher'
/**
 * safety: acknowledged, the contract would not settle. liveness: refused, current and settleable. order: refused
 * with another code than the first rule broken. rules: acknowledged although a rule is broken, or refused although
 * none is. state: the receiver's totals or best proof disagree with its acknowledgements. money: conservation.
 * crash: the receiver threw something that is not a PayError.
 */
export type DisagreementType = 'safety' | 'liveness' | 'order' | 'rules' | 'state' | 'money' | 'crash'

export interface Disagreement {
  type: DisagreementType
  /** 1-based step of the case (0: the end-of-case checks). */
  step: number
  detail: string
}

/** One message: what the rules expected, what the receiver did, what the contract says. */
export interface MessageReport {
  kind: MessageKind
  step: number
  /** The message in words (which step choices made it). */
  describe: string
  /** 'ACK' or the code of the first rule broken. */
  expected: string
  /** 'ACK' or the receiver's error code. */
  outcome: string
  /** The contract would settle it now (for a commitment: its first tick). */
  settleable: boolean
  /** The contract's revert, when it would not. */
  revert?: string
  /** Not stale with respect to what the receiver holds (the liveness premise besides settleable). */
  current: boolean
}

export interface CaseReport {
  messages: MessageReport[]
  disagreements: Disagreement[]
  /** Chain events the case ran (settlements, top-ups, close requests, withdrawals, restarts). */
  events: number
}

/** Counts over many cases, for the test's summary and the benchmark's table. */
export interface DifferentialStats {
  cases: number
  messages: number
  events: number
  acknowledged: Record<MessageKind, number>
  refused: Record<MessageKind, Record<string, number>>
  /** Refused although the contract would settle, by code: stale or against the receiver's policy (by design). */
  refusedButSettleable: Record<MessageKind, Record<string, number>>
  /** Disagreements by type, message kind and outcome (e.g. 'liveness voucher AMOUNT_EXCEEDS_DEPOSIT'). */
  disagreementKinds: Record<string, number>
  disagreements: Record<DisagreementType, number>
  /** The first few disagreements, with their case (a DifferentialCase or a HonestLeaseCase). */
  examples: Array<{ case: DifferentialCase | HonestLeaseCase; disagreement: Disagreement }>
}

export function emptyStats(): DifferentialStats {
  return {
    cases: 0,
    messages: 0,
    events: 0,
    acknowledged: { commitment: 0, tick: 0, voucher: 0 },
    refused: { commitment: {}, tick: {}, voucher: {} },
    refusedButSettleable: { commitment: {}, tick: {}, voucher: {} },
    disagreementKinds: {},
    disagreements: { safety: 0, liveness: 0, order: 0, rules: 0, state: 0, money: 0, crash: 0 },
    examples: [],
  }
}

export function addToStats(stats: DifferentialStats, c: DifferentialCase | HonestLeaseCase, report: CaseReport): void {
  stats.cases++
  stats.events += report.events
  for (const m of report.messages) {
    stats.messages++
    if (m.outcome === 'ACK') {
      stats.acknowledged[m.kind]++
    } else {
      stats.refused[m.kind][m.outcome] = (stats.refused[m.kind][m.outcome] ?? 0) + 1
      if (m.settleable) {
        stats.refusedButSettleable[m.kind][m.outcome] = (stats.refusedButSettleable[m.kind][m.outcome] ?? 0) + 1
      }
    }
  }
  for (const d of report.disagreements) {
    stats.disagreements[d.type]++
    const message = report.messages.find((m) => m.step === d.step)
    const kind = `${d.type} ${message == null ? 'step' : `${message.kind} ${message.outcome}`}`
    stats.disagreementKinds[kind] = (stats.disagreementKinds[kind] ?? 0) + 1
    if (stats.examples.length < 10) stats.examples.push({ case: c, disagreement: d })
  }
}

export function totalDisagreements(stats: DifferentialStats): number {
  return Object.values(stats.disagreements).reduce((a, b) => a + b, 0)
}

// ---------------------------------------------------------------------------------------------------------------
// A case's run: the receiver under test and the harness's own ledger of what it acknowledged
// ---------------------------------------------------------------------------------------------------------------

/** A channel's on-chain state (getChannel), or undefined when it does not exist. */
interface ChainChannel {
  renter: Address
  provider: Address
  providerNode: Hex
  deposit: bigint
  settled: bigint
  closeRequestedAt: bigint
}

/** A lease as the harness knows it: its commitment and, when the harness made the chain, the chain. */
interface HarnessLease {
  leaseId: Hex
  channelId: Hex
  signed: SignedTickCommitment
  /** The renter's chain; tick k under this commitment reveals chain.element(anchor - k). */
  chain?: HashChain
  anchor: number
  /** Ticks acknowledged under this commitment. */
  ticks: number
}

/** What the receiver acknowledged on a channel, per the harness (never read back from the receiver). */
interface ChannelLedger {
  best: bigint
  bestKind: 'none' | 'voucher' | 'ticks'
  bestTip?: Hex
  lastVoucher: bigint
  current?: HarnessLease
  retired: HarnessLease[]
  refused: HarnessLease[]
  /** The last commitment built for the channel, acknowledged or not (for replays). */
  lastBuilt?: HarnessLease
  /** The highest renter voucher the provider settled without its receiver (SettleStep 'outOfBand'). */
  outOfBand: bigint
  /** The highest total the renter signed that the contract would have settled when it was sent. */
  authorised: bigint
}

interface Run {
  world: DifferentialWorld
  config: ReceiverConfig
  wrap: ReceiverWrapper | undefined
  cap: number
  hashFunctions: HashFunctionName[]
  storePath: string
  store: PaymentStore
  cache: ChannelStateCache
  receiver: PaymentReceiver
  ledgers: Map<string, ChannelLedger>
  /** Current leases by lease id (what ticks are checked against). */
  active: Map<string, HarnessLease>
  report: CaseReport
  step: number
  /** The channel of the last acknowledged commitment. */
  leased: MainChannel
}

const lower = (hex: Hex): Hex => hex.toLowerCase() as Hex

function ledgerOf(run: Run, channelId: Hex): ChannelLedger {
  let l = run.ledgers.get(lower(channelId))
  if (l == null) {
    l = { best: 0n, bestKind: 'none', lastVoucher: 0n, retired: [], refused: [], outOfBand: 0n, authorised: 0n }
    run.ledgers.set(lower(channelId), l)
  }
  return l
}

function fresh(run: Run, what: string): Hex {
  return keccak256(toBytes(`${what} ${run.world.counter++}`))
}

function disagree(run: Run, type: DisagreementType, detail: string): void {
  run.report.disagreements.push({ type, step: run.step, detail })
}

/** The cache keeps entries far longer than any case lasts: what the receiver sees depends on the steps, not the clock. */
const CACHE_TTL_MS = 3_600_000

/** Wraps the receiver under test (a test of the harness re-introduces a past bug with it). */
export type ReceiverWrapper = (receiver: PaymentReceiver) => PaymentReceiver

async function startReceiver(run: Pick<Run, 'world' | 'config' | 'store' | 'wrap'>): Promise<{
  cache: ChannelStateCache
  receiver: PaymentReceiver
}> {
  const f = run.world.fixture
  const cache = new ChannelStateCache({ client: f.publicClient }, { contract: run.world.contract, ttlMs: CACHE_TTL_MS })
  const receiver = createPaymentReceiver(
    { store: run.store, channels: cache },
    {
      chainId: run.world.chainId,
      contract: run.world.contract,
      provider: f.provider.account.address,
      providerNode: f.providerNode,
      ...(run.config.sha256 ? { hashFunctions: ['keccak256', 'sha256'] as HashFunctionName[] } : {}),
      ...(run.config.smallCap ? { maxTicks: SMALL_CAP } : {}),
    },
  )
  await receiver.start()
  return { cache, receiver: run.wrap?.(receiver) ?? receiver }
}

async function openRun(world: DifferentialWorld, config: ReceiverConfig, wrap?: ReceiverWrapper): Promise<Run> {
  const storePath = join(world.dir, `case-${world.counter++}`)
  // No fsync: durability is not under test here, and a restart step still reloads from the store.
  const store = await createPaymentStore({ path: storePath, sync: false })
  const { cache, receiver } = await startReceiver({ world, config, store, wrap })
  return {
    world,
    config,
    wrap,
    cap: config.smallCap ? SMALL_CAP : MAX_PROOF_TICKS,
    hashFunctions: config.sha256 ? ['keccak256', 'sha256'] : ['keccak256'],
    storePath,
    store,
    cache,
    receiver,
    ledgers: new Map(),
    active: new Map(),
    report: { messages: [], disagreements: [], events: 0 },
    step: 0,
    leased: 'A',
  }
}

async function closeRun(run: Run): Promise<void> {
  await run.receiver.stop()
  await run.store.stop()
  await rm(run.storePath, { recursive: true, force: true })
}

async function restart(run: Run): Promise<void> {
  await run.receiver.stop()
  await run.store.stop()
  run.store = await createPaymentStore({ path: run.storePath, sync: false })
  const { cache, receiver } = await startReceiver(run)
  run.cache = cache
  run.receiver = receiver
}

// ---------------------------------------------------------------------------------------------------------------
// Chain reads and the oracle
// ---------------------------------------------------------------------------------------------------------------

async function chainChannel(run: Run, channelId: Hex): Promise<ChainChannel | undefined> {
  const raw = await readContract(run.world.fixture.publicClient, {
    address: run.world.contract,
    abi: PAYMENT_CHANNEL_ABI,
    functionName: 'getChannel',
    args: [channelId],
  })
  if (isAddressEqual(raw.renter, zeroAddress)) return undefined
  return {
    renter: raw.renter,
    provider: raw.provider,
    providerNode: raw.providerNode,
    deposit: raw.deposit,
    settled: raw.settled,
    closeRequestedAt: raw.closeRequestedAt,
  }
}

/** What the receiver believes of a channel: its cache entry, or (no entry) what it will read from the chain. */
function viewOf(run: Run, channelId: Hex, truth: ChainChannel | undefined): ChainChannel | undefined {
  return run.cache.peek(channelId) ?? truth
}

/** The contract's answer: would this call settle now? */
export interface Oracle {
  settles: boolean
  /** The custom error (or 'unencodable': no calldata can carry this proof). */
  revert?: string
}

async function simulate(
  run: Run,
  request: { functionName: 'settle'; args: readonly [Hex, bigint, Hex] } | { functionName: 'settleTicks'; args: any },
): Promise<Oracle> {
  try {
    await simulateContract(run.world.fixture.publicClient, {
      address: run.world.contract,
      abi: PAYMENT_CHANNEL_ABI,
      account: run.world.fixture.provider.account,
      ...(request as { functionName: 'settle'; args: readonly [Hex, bigint, Hex] }),
    })
    return { settles: true }
  } catch (err) {
    if (err instanceof BaseError) {
      const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError)
      if (reverted instanceof ContractFunctionRevertedError) {
        return { settles: false, revert: reverted.data?.errorName ?? 'revert' }
      }
      return { settles: false, revert: `unencodable: ${err.shortMessage}` }
    }
    throw err
  }
}

/** settle(channelId, total, signature), as the provider would send it with the signature it received. */
async function voucherOracle(run: Run, v: Voucher): Promise<Oracle> {
  if (v.total < 0n || v.total > UINT256_MAX) return { settles: false, revert: 'unencodable' }
  return simulate(run, { functionName: 'settle', args: [v.channelId, v.total, v.signature] })
}

function encodable(c: TickCommitment): boolean {
  const amount = (x: bigint) => x >= 0n && x <= UINT256_MAX
  return amount(c.amountPerTick) && amount(c.baseAmount) && Number.isInteger(c.maxTicks) && c.maxTicks >= 0
}

/** settleTicks(commitment, signature, preimage, ticks), with the commitment's signature as received. */
async function ticksOracle(run: Run, s: SignedTickCommitment, preimage: Uint8Array, ticks: number): Promise<Oracle> {
  const c = s.commitment
  if (preimage.length !== 32 || !encodable(c) || c.maxTicks > UINT32_MAX || ticks < 0 || ticks > UINT32_MAX) {
    return { settles: false, revert: 'unencodable' }
  }
  return simulate(run, {
    functionName: 'settleTicks',
    args: [
      {
        channelId: c.channelId,
        leaseId: c.leaseId,
        tip: c.tip,
        hashFunction: HASH_IDS[c.hashFunction],
        amountPerTick: c.amountPerTick,
        baseAmount: c.baseAmount,
        maxTicks: c.maxTicks,
      },
      s.signature,
      bytesToHex(preimage),
      ticks,
    ],
  })
}

/** The preimage tick `k` reveals under a lease's commitment, when the harness knows the chain. */
function preimageOf(lease: HarnessLease, k: number): Uint8Array | undefined {
  const i = lease.anchor - k
  if (lease.chain == null || i < 0 || i > lease.chain.length) return undefined
  return lease.chain.element(i)
}

/**
 * A commitment alone settles nothing: the contract is asked to settle its first tick. With the chain known, the
 * first preimage must settle; without it, everything before the preimage must pass (the revert is InvalidPreimage)
 * and tick 1's amount must be payable.
 */
async function commitmentOracle(run: Run, lease: HarnessLease, truth: ChainChannel | undefined): Promise<Oracle> {
  const first = preimageOf(lease, 1)
  if (first != null) return ticksOracle(run, lease.signed, first, 1)
  const answer = await ticksOracle(run, lease.signed, new Uint8Array(32), 1)
  const c = lease.signed.commitment
  const one = c.baseAmount + c.amountPerTick
  const payable = truth != null && one > truth.settled && one <= truth.deposit
  return answer.revert === 'InvalidPreimage' && payable ? { settles: true } : answer
}

// ---------------------------------------------------------------------------------------------------------------
// Signatures: made, broken, and judged as the contract's _recover judges them
// ---------------------------------------------------------------------------------------------------------------

function word(x: bigint): string {
  return x.toString(16).padStart(64, '0')
}

function assemble(r: bigint, s: bigint, v: number): Hex {
  return `0x${word(r)}${word(s)}${v.toString(16).padStart(2, '0')}`
}

export function mutateSignature(signature: Hex, mutation: SignatureMutation): Hex {
  const r = BigInt(`0x${signature.slice(2, 66)}`)
  const s = BigInt(`0x${signature.slice(66, 130)}`)
  const v = Number.parseInt(signature.slice(130, 132), 16)
  const flipped = v === 27 ? 28 : 27
  switch (mutation) {
    case 'none':
      return signature
    case 'highS':
      return assemble(r, SECP256K1_N - s, flipped)
    case 'highSv01':
      return assemble(r, SECP256K1_N - s, flipped - 27)
    case 'v01':
      return assemble(r, s, v - 27)
    case 'vFlipped':
      return assemble(r, s, flipped)
    case 'v2':
      return assemble(r, s, v - 25)
    case 'v29':
      return assemble(r, s, v + 2)
    case 'v255':
      return assemble(r, s, 255)
    case 'zeroR':
      return assemble(0n, s, v)
    case 'zeroS':
      return assemble(r, 0n, v)
    case 'sMax':
      return assemble(r, MAX_S, v)
    case 'sAboveMax':
      return assemble(r, MAX_S + 1n, v)
    case 'rAboveN':
      return assemble(SECP256K1_N + 1n, s, v)
    case 'truncated':
      return signature.slice(0, -2) as Hex
    case 'extraByte':
      return `${signature}00` as Hex
    case 'empty':
      return '0x'
  }
}

/** PaymentChannel._recover's form check: 65 bytes, v in {0, 1, 27, 28}, s <= n / 2. */
function contractForm(signature: Hex): { r: Hex; s: Hex; v: number } | undefined {
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) return undefined
  let v = Number.parseInt(signature.slice(130, 132), 16)
  if (v < 27) v += 27
  const s = BigInt(`0x${signature.slice(66, 130)}`)
  if (s > MAX_S || (v !== 27 && v !== 28)) return undefined
  return { r: `0x${signature.slice(2, 66)}`, s: `0x${signature.slice(66, 130)}`, v }
}

/** The signer by the chain's own ecrecover precompile, or undefined when the signature recovers to nobody. */
async function ecrecover(run: Run, digest: Hex, signature: Hex): Promise<Address | undefined> {
  const form = contractForm(signature)
  if (form == null) return undefined
  const { data } = await call(run.world.fixture.publicClient, {
    to: ECRECOVER,
    data: encodeAbiParameters(
      [{ type: 'bytes32' }, { type: 'uint256' }, { type: 'bytes32' }, { type: 'bytes32' }],
      [digest, BigInt(form.v), form.r, form.s],
    ),
  })
  if (data == null || data.length < 66) return undefined
  const address = `0x${data.slice(26, 66)}` as Address
  return isAddressEqual(address, zeroAddress) ? undefined : address
}

/** The contract's digests (its typehashes and domain separator), for the receiver's own domain. */
function voucherDigest(run: Run, channelId: Hex, total: bigint): Hex {
  const structHash = keccak256(
    encodeAbiParameters(
      [{ type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint256' }],
      [run.world.voucherTypehash, channelId, total],
    ),
  )
  return keccak256(concat(['0x1901', run.world.domainSeparator, structHash]))
}

function commitmentDigest(run: Run, c: TickCommitment): Hex {
  const structHash = keccak256(
    encodeAbiParameters(
      [
        { type: 'bytes32' },
        { type: 'bytes32' },
        { type: 'bytes32' },
        { type: 'bytes32' },
        { type: 'uint8' },
        { type: 'uint256' },
        { type: 'uint256' },
        { type: 'uint32' },
      ],
      [
        run.world.commitmentTypehash,
        c.channelId,
        c.leaseId,
        c.tip,
        HASH_IDS[c.hashFunction],
        c.amountPerTick,
        c.baseAmount,
        c.maxTicks,
      ],
    ),
  )
  return keccak256(concat(['0x1901', run.world.domainSeparator, structHash]))
}

// ---------------------------------------------------------------------------------------------------------------
// The documented rules, in order, judged independently of the receiver
// ---------------------------------------------------------------------------------------------------------------

/** Everything a rule may look at. */
interface RuleContext {
  run: Run
  channelId: Hex
  /** The chain now, and what the receiver believes (its cached entry, else the chain). */
  truth: ChainChannel | undefined
  view: ChainChannel | undefined
  ledger: ChannelLedger
}

/** A rule: its documented code, and whether the message breaks it (returning the code reported). */
interface Rule<M> {
  code: string
  rule: string
  broken(m: M, ctx: RuleContext): boolean | Promise<boolean>
}

interface CommitmentMessage {
  signed: SignedTickCommitment
  expect: { channelId: Hex; leaseId?: Hex; amountPerTick?: bigint }
}

interface TickMessage {
  leaseId: Hex
  preimage: Uint8Array
  index?: number
  /** The current lease of that id (undefined: the receiver has none). */
  lease: HarnessLease | undefined
}

interface VoucherMessage {
  voucher: Voucher
  expect: { channelId?: Hex }
}

function isInDomain(run: Run, chainId: number, contract: Address): { chain: boolean; contract: boolean } {
  return { chain: chainId === run.world.chainId, contract: isAddressEqual(contract, run.world.contract) }
}

function boundElsewhere(run: Run, view: ChainChannel): boolean {
  const f = run.world.fixture
  return (
    !isAddressEqual(view.provider, f.provider.account.address) || lower(view.providerNode) !== lower(f.providerNode)
  )
}

/** Tips the receiver still holds: each channel's current commitment and best tick proof (a commitment replay). */
function retainedTips(run: Run): Set<string> {
  const tips = new Set<string>()
  for (const l of run.ledgers.values()) {
    if (l.current != null) tips.add(lower(l.current.signed.commitment.tip))
    if (l.bestKind === 'ticks' && l.bestTip != null) tips.add(lower(l.bestTip))
  }
  return tips
}

/** Whether a lease on another channel holds this commitment's lease id (lease ids are unique per provider). */
function leaseIdHeldElsewhere(run: Run, c: { channelId: Hex; leaseId: Hex }): boolean {
  const holder = run.active.get(lower(c.leaseId))
  return holder != null && lower(holder.channelId) !== lower(c.channelId)
}

/** Commitment rules, one per entry of PAYMENT_CHECKS.commitment. */
export const COMMITMENT_RULES: Array<Rule<CommitmentMessage>> = [
  {
    code: 'MALFORMED',
    rule: 'hash function accepted; 1 <= maxTicks <= cap (integer); 0 < amountPerTick <= MAX_AMOUNT; 0 <= baseAmount <= MAX_AMOUNT; the expected price',
    broken: ({ signed: { commitment: c }, expect }, { run }) =>
      !run.hashFunctions.includes(c.hashFunction) ||
      !Number.isInteger(c.maxTicks) ||
      c.maxTicks < 1 ||
      c.maxTicks > run.cap ||
      c.amountPerTick <= 0n ||
      c.amountPerTick > MAX_AMOUNT ||
      c.baseAmount < 0n ||
      c.baseAmount > MAX_AMOUNT ||
      (expect.amountPerTick != null && c.amountPerTick !== expect.amountPerTick),
  },
  {
    code: 'CHANNEL_MISMATCH',
    rule: 'the expected channel and lease, and a lease id no lease on another channel holds',
    broken: ({ signed: { commitment: c }, expect }, { run }) =>
      lower(c.channelId) !== lower(expect.channelId) ||
      (expect.leaseId != null && lower(c.leaseId) !== lower(expect.leaseId)) ||
      leaseIdHeldElsewhere(run, c),
  },
  {
    code: 'WRONG_CHAIN',
    rule: 'signed for this chain id',
    broken: ({ signed: { commitment: c } }, { run }) => !isInDomain(run, c.chainId, c.contract).chain,
  },
  {
    code: 'WRONG_CONTRACT',
    rule: 'signed for this contract',
    broken: ({ signed: { commitment: c } }, { run }) => !isInDomain(run, c.chainId, c.contract).contract,
  },
  { code: 'CHANNEL_NOT_OPEN', rule: 'the channel exists', broken: (_m, { view }) => view == null },
  {
    code: 'CHANNEL_MISMATCH',
    rule: "the channel pays this provider's address and is bound to this node",
    broken: (_m, { run, view }) => boundElsewhere(run, view!),
  },
  { code: 'CHANNEL_CLOSING', rule: 'no close requested', broken: (_m, { view }) => view!.closeRequestedAt !== 0n },
  {
    code: 'COMMITMENT_NOT_SIGNED',
    rule: "a signature the contract's _recover takes (65 bytes, v in {0,1,27,28}, low s) that recovers to someone",
    broken: async ({ signed }, ctx) =>
      (await ecrecover(ctx.run, commitmentDigest(ctx.run, signed.commitment), signed.signature)) == null,
  },
  {
    code: 'WRONG_SIGNER',
    rule: "signed by the channel's renter",
    broken: async ({ signed }, ctx) =>
      !isAddressEqual(
        (await ecrecover(ctx.run, commitmentDigest(ctx.run, signed.commitment), signed.signature))!,
        ctx.view!.renter,
      ),
  },
  {
    code: 'AMOUNT_NOT_INCREASING',
    rule: 'a tip the receiver does not hold; baseAmount >= the acknowledged best and >= settled',
    broken: ({ signed: { commitment: c } }, { run, view, ledger }) =>
      retainedTips(run).has(lower(c.tip)) || c.baseAmount < ledger.best || c.baseAmount < view!.settled,
  },
  {
    code: 'AMOUNT_EXCEEDS_DEPOSIT',
    rule: 'tick 1 within the deposit',
    broken: ({ signed: { commitment: c } }, { view }) => c.baseAmount + c.amountPerTick > view!.deposit,
  },
]

function tickNumber(m: TickMessage): number {
  return m.lease!.ticks + 1
}

function tickTotal(m: TickMessage): bigint {
  const c = m.lease!.signed.commitment
  return c.baseAmount + BigInt(tickNumber(m)) * c.amountPerTick
}

async function preimageChains(run: Run, m: TickMessage): Promise<boolean> {
  const c = m.lease!.signed.commitment
  if (m.preimage.length !== 32) return false
  const result = await readContract(run.world.fixture.publicClient, {
    address: run.world.contract,
    abi: PAYMENT_CHANNEL_ABI,
    functionName: 'hashChain',
    args: [HASH_IDS[c.hashFunction], bytesToHex(m.preimage), BigInt(tickNumber(m))],
  })
  return lower(result) === lower(c.tip)
}

/**
 * Tick rules, one per entry of PAYMENT_CHECKS.tick. Rules 2-4 are judged on the receiver's cached state (a tick never
 * waits for the chain while it has one); the deposit rule re-reads the chain when the cached deposit is short (a
 * top-up), and that read runs rules 2-4 again on the fresh state: see {@link expectedTickCode}.
 */
export const TICK_RULES: Array<Rule<TickMessage>> = [
  { code: 'UNKNOWN_LEASE', rule: 'a current lease of this id', broken: (m) => m.lease == null },
  { code: 'CHANNEL_NOT_OPEN', rule: 'the channel exists', broken: (_m, { view }) => view == null },
  {
    code: 'CHANNEL_MISMATCH',
    rule: "the channel pays this provider's node",
    broken: (_m, { run, view }) => boundElsewhere(run, view!),
  },
  { code: 'CHANNEL_CLOSING', rule: 'no close requested', broken: (_m, { view }) => view!.closeRequestedAt !== 0n },
  {
    code: 'TICK_OUT_OF_RANGE',
    rule: 'k <= maxTicks',
    broken: (m) => tickNumber(m) > m.lease!.signed.commitment.maxTicks,
  },
  {
    code: 'INVALID_PREIMAGE',
    rule: 'the index, if given, is k; the preimage hashed k times is the tip (the contract hashChain view)',
    broken: async (m, { run }) => (m.index != null && m.index !== tickNumber(m)) || !(await preimageChains(run, m)),
  },
  {
    code: 'AMOUNT_NOT_INCREASING',
    rule: 'the tick total is above settled',
    broken: (m, { view }) => tickTotal(m) <= view!.settled,
  },
  {
    code: 'AMOUNT_EXCEEDS_DEPOSIT',
    rule: 'the tick total is within the deposit',
    broken: (m, { view }) => tickTotal(m) > view!.deposit,
  },
]

/** Voucher rules, one per entry of PAYMENT_CHECKS.voucher. */
export const VOUCHER_RULES: Array<Rule<VoucherMessage>> = [
  {
    code: 'MALFORMED',
    rule: '0 <= total <= MAX_AMOUNT',
    broken: ({ voucher }) => voucher.total < 0n || voucher.total > MAX_AMOUNT,
  },
  {
    code: 'CHANNEL_MISMATCH',
    rule: 'the expected channel',
    broken: ({ voucher, expect }) => expect.channelId != null && lower(voucher.channelId) !== lower(expect.channelId),
  },
  {
    code: 'WRONG_CHAIN',
    rule: 'signed for this chain id',
    broken: ({ voucher: v }, { run }) => !isInDomain(run, v.chainId, v.contract).chain,
  },
  {
    code: 'WRONG_CONTRACT',
    rule: 'signed for this contract',
    broken: ({ voucher: v }, { run }) => !isInDomain(run, v.chainId, v.contract).contract,
  },
  { code: 'CHANNEL_NOT_OPEN', rule: 'the channel exists', broken: (_m, { view }) => view == null },
  {
    code: 'CHANNEL_MISMATCH',
    rule: "the channel pays this provider's address and is bound to this node",
    broken: (_m, { run, view }) => boundElsewhere(run, view!),
  },
  { code: 'CHANNEL_CLOSING', rule: 'no close requested', broken: (_m, { view }) => view!.closeRequestedAt !== 0n },
  {
    code: 'WRONG_SIGNER',
    rule: "a signature the contract's _recover takes that recovers to someone",
    broken: async ({ voucher: v }, ctx) =>
      (await ecrecover(ctx.run, voucherDigest(ctx.run, v.channelId, v.total), v.signature)) == null,
  },
  {
    code: 'WRONG_SIGNER',
    rule: "signed by the channel's renter",
    broken: async ({ voucher: v }, ctx) =>
      !isAddressEqual(
        (await ecrecover(ctx.run, voucherDigest(ctx.run, v.channelId, v.total), v.signature))!,
        ctx.view!.renter,
      ),
  },
  {
    code: 'AMOUNT_NOT_INCREASING',
    rule: 'total above settled and above the last acknowledged voucher',
    broken: ({ voucher: v }, { view, ledger }) => v.total <= view!.settled || v.total <= ledger.lastVoucher,
  },
  {
    code: 'AMOUNT_EXCEEDS_DEPOSIT',
    rule: 'total within the deposit',
    broken: ({ voucher: v }, { view }) => v.total > view!.deposit,
  },
]

/** The rule tables follow PAYMENT_CHECKS entry for entry: reorder one and the other must follow. */
export function checkRuleTables(): void {
  const tables: Record<MessageKind, Array<Rule<any>>> = {
    commitment: COMMITMENT_RULES,
    tick: TICK_RULES,
    voucher: VOUCHER_RULES,
  }
  for (const kind of ['commitment', 'tick', 'voucher'] as const) {
    const codes = tables[kind].map((r) => r.code)
    if (JSON.stringify(codes) !== JSON.stringify(PAYMENT_CHECKS[kind])) {
      throw new Error(`the ${kind} rules (${codes.join(', ')}) are not PAYMENT_CHECKS.${kind}`)
    }
  }
}

async function firstBroken<M>(rules: Array<Rule<M>>, m: M, ctx: RuleContext): Promise<string> {
  for (const r of rules) if (await r.broken(m, ctx)) return r.code
  return 'ACK'
}

/**
 * A commitment's or voucher's expected outcome: the rules in order, where an amount over the cached deposit makes the
 * receiver read the channel again (a top-up) and run the channel rules (exists, ours, not closing) and the growth
 * rule again on the fresh state before the deposit rule.
 */
async function expectedWithDepositRead<M>(
  rules: Array<Rule<M>>,
  m: M,
  ctx: RuleContext,
  amount: bigint,
): Promise<string> {
  const code = await firstBroken(rules.slice(0, -1), m, ctx)
  if (code !== 'ACK' || amount <= ctx.view!.deposit) return code
  const freshCtx = { ...ctx, view: ctx.truth }
  const again = await firstBroken([rules[4]!, rules[5]!, rules[6]!, rules[rules.length - 2]!], m, freshCtx)
  if (again !== 'ACK') return again
  return amount > ctx.truth!.deposit ? 'AMOUNT_EXCEEDS_DEPOSIT' : 'ACK'
}

/** The tick's expected outcome: the rules in order, with the deposit rule's fresh read (rules 2-4 on the chain). */
async function expectedTickCode(m: TickMessage, ctx: RuleContext): Promise<string> {
  const code = await firstBroken(TICK_RULES.slice(0, -1), m, ctx)
  if (code !== 'ACK' || tickTotal(m) <= ctx.view!.deposit) return code
  const freshCtx = { ...ctx, view: ctx.truth }
  const again = await firstBroken(TICK_RULES.slice(1, 4), m, freshCtx)
  if (again !== 'ACK') return again
  return tickTotal(m) > ctx.truth!.deposit ? 'AMOUNT_EXCEEDS_DEPOSIT' : 'ACK'
}

// ---------------------------------------------------------------------------------------------------------------
// Liveness premises: when a settleable message is not stale, written down per kind
// ---------------------------------------------------------------------------------------------------------------

/**
 * A voucher the contract would settle is current when: its labels are the receiver's chain id and contract (the
 * contract never reads them, the receiver refuses a message labelled for elsewhere); it is for the expected channel;
 * the channel is bound to this node (the contract does not check the node: the binding is the receiver's); no close
 * was requested (the contract still settles inside the window, the receiver takes no new payment on a closing channel);
 * and its total is above the last voucher the receiver acknowledged on the channel (not its best total: a voucher
 * below the ticks is still kept, being cheaper to settle).
 */
function currentVoucher(run: Run, m: VoucherMessage, truth: ChainChannel | undefined, l: ChannelLedger): boolean {
  const v = m.voucher
  const domain = isInDomain(run, v.chainId, v.contract)
  return (
    domain.chain &&
    domain.contract &&
    (m.expect.channelId == null || lower(m.expect.channelId) === lower(v.channelId)) &&
    truth != null &&
    !boundElsewhere(run, truth) &&
    truth.closeRequestedAt === 0n &&
    v.total > l.lastVoucher
  )
}

/**
 * A commitment whose first tick the contract would settle is current when: its hash function is one the receiver
 * accepts and 1 <= maxTicks <= its cap (policy: gas per proof); it prices its ticks (amountPerTick > 0: with 0 the
 * contract pays tick 1 its base, and no later tick anything more); its labels are the receiver's; it matches the
 * lease's expected channel, lease and price; the channel is bound to this node and not closing; its tip is not one
 * the receiver holds (a replay); and it starts at or above both the acknowledged best total and settled (leases
 * on a channel are sequential: the contract would pay the part of tick 1 above settled, the receiver wants none of
 * the lease below what it already holds).
 */
function currentCommitment(run: Run, m: CommitmentMessage, truth: ChainChannel | undefined, l: ChannelLedger): boolean {
  const c = m.signed.commitment
  const domain = isInDomain(run, c.chainId, c.contract)
  return (
    run.hashFunctions.includes(c.hashFunction) &&
    c.amountPerTick > 0n &&
    c.baseAmount >= 0n &&
    Number.isInteger(c.maxTicks) &&
    c.maxTicks >= 1 &&
    c.maxTicks <= run.cap &&
    domain.chain &&
    domain.contract &&
    lower(c.channelId) === lower(m.expect.channelId) &&
    (m.expect.leaseId == null || lower(m.expect.leaseId) === lower(c.leaseId)) &&
    (m.expect.amountPerTick == null || m.expect.amountPerTick === c.amountPerTick) &&
    !leaseIdHeldElsewhere(run, c) &&
    truth != null &&
    !boundElsewhere(run, truth) &&
    truth.closeRequestedAt === 0n &&
    !retainedTips(run).has(lower(c.tip)) &&
    c.baseAmount >= l.best &&
    c.baseAmount >= truth.settled
  )
}

/**
 * A tick the contract would settle (the lease's current commitment, the preimage, k = acknowledged ticks + 1) is
 * current when its lease is the channel's current lease (the last commitment acknowledged on it: leases are
 * sequential, a later commitment retires the earlier one), the index, if given, is k, and no close was requested.
 * It need not beat the best total: a voucher may have crossed it in flight.
 */
function currentTick(m: TickMessage, truth: ChainChannel | undefined): boolean {
  return (
    m.lease != null && (m.index == null || m.index === tickNumber(m)) && truth != null && truth.closeRequestedAt === 0n
  )
}

// ---------------------------------------------------------------------------------------------------------------
// Checking one message
// ---------------------------------------------------------------------------------------------------------------

type Outcome<T> = { ack: true; value: T } | { ack: false; code: string; error: unknown }

async function outcomeOf<T>(promise: Promise<T>): Promise<Outcome<T>> {
  try {
    return { ack: true, value: await promise }
  } catch (error) {
    if (error instanceof PayError) return { ack: false, code: error.code, error }
    return { ack: false, code: `THREW ${(error as Error)?.name ?? typeof error}`, error }
  }
}

function compare<T>(
  run: Run,
  kind: MessageKind,
  describe: string,
  expected: string,
  outcome: Outcome<T>,
  oracle: Oracle,
  current: boolean,
): void {
  const got = outcome.ack ? 'ACK' : outcome.code
  run.report.messages.push({
    kind,
    step: run.step,
    describe,
    expected,
    outcome: got,
    settleable: oracle.settles,
    ...(oracle.revert != null ? { revert: oracle.revert } : {}),
    current,
  })
  const contract = oracle.settles ? 'the contract would settle it' : `the contract reverts ${oracle.revert}`
  if (!outcome.ack && got.startsWith('THREW')) {
    disagree(run, 'crash', `${describe}: not a PayError: ${(outcome.error as Error)?.stack ?? outcome.error}`)
  }
  if (outcome.ack && !oracle.settles) disagree(run, 'safety', `${describe}: acknowledged, but ${contract}`)
  if (!outcome.ack && oracle.settles && current) {
    disagree(run, 'liveness', `${describe}: refused ${got}, but it is current and ${contract}`)
  }
  if (got !== expected) {
    const type = got === 'ACK' || expected === 'ACK' ? 'rules' : 'order'
    disagree(run, type, `${describe}: the rules say ${expected}, the receiver ${got}; ${contract}`)
  }
}

/** Check a commitment; `lease` is the harness's lease the commitment would start (chain included, if known). */
async function checkCommitment(run: Run, m: CommitmentMessage, lease: HarnessLease, describe: string): Promise<void> {
  const channelId = m.signed.commitment.channelId
  const truth = await chainChannel(run, channelId)
  const view = viewOf(run, channelId, truth)
  const ledger = ledgerOf(run, channelId)
  const ctx: RuleContext = { run, channelId, truth, view, ledger }
  const c = m.signed.commitment
  const expected = await expectedWithDepositRead(COMMITMENT_RULES, m, ctx, c.baseAmount + c.amountPerTick)
  const current = currentCommitment(run, m, truth, ledger)
  const outcome = await outcomeOf(run.receiver.acceptCommitment(m.signed, m.expect))
  const oracle = await commitmentOracle(run, lease, truth)
  compare(run, 'commitment', describe, expected, outcome, oracle, current)
  ledger.lastBuilt = lease
  if (!outcome.ack) {
    ledger.refused.push(lease)
    return
  }
  // Leases are sequential: the channel's previous lease is retired (a renewal or re-anchor keeps the lease id).
  if (ledger.current != null) {
    run.active.delete(lower(ledger.current.leaseId))
    ledger.retired.push(ledger.current)
  }
  ledger.current = { ...lease, ticks: 0 }
  run.active.set(lower(lease.leaseId), ledger.current)
  const main = MAIN_CHANNELS.find((name) => lower(run.world.channels[name].id) === lower(channelId))
  if (main != null) run.leased = main
  if (outcome.value.total !== ledger.best || lower(outcome.value.channelId) !== lower(channelId)) {
    disagree(
      run,
      'state',
      `${describe}: acknowledged with total ${outcome.value.total}, the channel's best is ${ledger.best}`,
    )
  }
}

async function checkTick(run: Run, m: TickMessage, describe: string, fallback?: HarnessLease): Promise<void> {
  const channelId = (m.lease ?? fallback)?.channelId ?? run.world.channels.missing.id
  const truth = await chainChannel(run, channelId)
  const view = viewOf(run, channelId, truth)
  const ledger = ledgerOf(run, channelId)
  const ctx: RuleContext = { run, channelId, truth, view, ledger }
  const expected = await expectedTickCode(m, ctx)
  const current = currentTick(m, truth)
  const outcome = await outcomeOf(
    run.receiver.acceptTick(m.leaseId, m.preimage, m.index != null ? { index: m.index } : {}),
  )
  // The proof the tick would make: the lease's current commitment (or, for a lease the receiver does not hold, the
  // commitment the renter made for it), the preimage, and k = its acknowledged ticks + 1.
  const proofLease = m.lease ?? fallback
  const oracle =
    proofLease == null
      ? { settles: false, revert: 'no commitment' }
      : await ticksOracle(run, proofLease.signed, m.preimage, proofLease.ticks + 1)
  compare(run, 'tick', describe, expected, outcome, oracle, current)
  if (!outcome.ack) return
  const lease = m.lease
  if (lease == null) return
  const k = tickNumber(m)
  const total = tickTotal(m)
  lease.ticks = k
  if (total > ledger.best) {
    ledger.best = total
    ledger.bestKind = 'ticks'
    ledger.bestTip = lease.signed.commitment.tip
  }
  if (oracle.settles && total > ledger.authorised) ledger.authorised = total
  const v = outcome.value
  if (v.ticks !== k || lower(v.leaseId) !== lower(m.leaseId) || v.total !== ledger.best) {
    disagree(
      run,
      'state',
      `${describe}: acknowledged as tick ${v.ticks} with channel total ${v.total}; expected tick ${k}, total ${ledger.best}`,
    )
  }
}

async function checkVoucher(run: Run, m: VoucherMessage, describe: string): Promise<void> {
  const channelId = m.voucher.channelId
  const truth = await chainChannel(run, channelId)
  const view = viewOf(run, channelId, truth)
  const ledger = ledgerOf(run, channelId)
  const ctx: RuleContext = { run, channelId, truth, view, ledger }
  const expected = await expectedWithDepositRead(VOUCHER_RULES, m, ctx, m.voucher.total)
  const current = currentVoucher(run, m, truth, ledger)
  const outcome = await outcomeOf(run.receiver.acceptVoucher(m.voucher, m.expect))
  const oracle = await voucherOracle(run, m.voucher)
  compare(run, 'voucher', describe, expected, outcome, oracle, current)
  if (oracle.settles && m.voucher.total > ledger.authorised) ledger.authorised = m.voucher.total
  if (!outcome.ack) return
  ledger.lastVoucher = m.voucher.total
  if (m.voucher.total >= ledger.best) {
    ledger.best = m.voucher.total
    ledger.bestKind = 'voucher'
    delete ledger.bestTip
  }
  if (outcome.value.total !== ledger.best) {
    disagree(run, 'state', `${describe}: acknowledged with total ${outcome.value.total}, expected ${ledger.best}`)
  }
}

/** The receiver's own account of a channel agrees with its acknowledgements, and its best proof settles. */
async function checkChannelState(run: Run, channelId: Hex, describe: string): Promise<void> {
  const ledger = ledgerOf(run, channelId)
  const r = run.receiver
  if (r.channelTotal(channelId) !== ledger.best) {
    disagree(run, 'state', `${describe}: channelTotal ${r.channelTotal(channelId)}, acknowledged best ${ledger.best}`)
  }
  const voucher = r.bestVoucher(channelId)
  if ((voucher?.total ?? 0n) !== ledger.lastVoucher) {
    disagree(
      run,
      'state',
      `${describe}: bestVoucher ${voucher?.total}, last acknowledged voucher ${ledger.lastVoucher}`,
    )
  }
  const best = r.bestProof(channelId)
  if (ledger.bestKind === 'none') {
    if (best != null) disagree(run, 'state', `${describe}: a best proof (${best.total}) with nothing acknowledged`)
    return
  }
  if (best == null || best.kind !== ledger.bestKind || best.total !== ledger.best) {
    disagree(
      run,
      'state',
      `${describe}: best proof ${best?.kind} ${best?.total}, acknowledged best ${ledger.bestKind} ${ledger.best}`,
    )
    return
  }
  const truth = await chainChannel(run, channelId)
  // Already paid (settled caught up) or the channel is gone: nothing left to settle.
  if (truth == null || best.total <= truth.settled) return
  const oracle =
    best.kind === 'voucher'
      ? await voucherOracle(run, best.voucher)
      : await ticksOracle(run, best.commitment, hexToBytes(best.preimage), best.ticks)
  if (!oracle.settles) {
    disagree(
      run,
      'safety',
      `${describe}: the best proof (${best.kind}, ${best.total}) does not settle: ${oracle.revert}`,
    )
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Materialising symbolic steps
// ---------------------------------------------------------------------------------------------------------------

function ref(run: Run, name: ChannelName): ChannelRef {
  return run.world.channels[name]
}

function otherMain(name: ChannelName): MainChannel {
  return name === 'A' ? 'B' : 'A'
}

interface Amounts {
  best: bigint
  known: bigint
  lastVoucher: bigint
  settled: bigint
  deposit: bigint
  leaseTotal: bigint
  tick: bigint
}

function amountsOf(run: Run, channelId: Hex, truth: ChainChannel | undefined): Amounts {
  const l = ledgerOf(run, channelId)
  const settled = truth?.settled ?? 0n
  const deposit = truth?.deposit ?? DEPOSIT
  const known = larger(l.best, settled)
  const c = l.current?.signed.commitment
  const leaseTotal = c == null ? known : c.baseAmount + BigInt(l.current!.ticks) * c.amountPerTick
  return {
    best: l.best,
    known,
    lastVoucher: l.lastVoucher,
    settled,
    deposit,
    leaseTotal,
    tick: c?.amountPerTick ?? PRICE,
  }
}

function voucherTotal(a: Amounts, choice: VoucherAmount): bigint {
  switch (choice) {
    case 'honest':
      return a.leaseTotal
    case 'aheadByTick':
      return a.leaseTotal + a.tick
    case 'best':
      return a.best
    case 'aboveBest':
      return a.best + 1n
    case 'belowBest':
      return a.best - 1n
    case 'lastVoucher':
      return a.lastVoucher
    case 'aboveLastVoucher':
      return a.lastVoucher + 1n
    case 'settled':
      return a.settled
    case 'aboveSettled':
      return a.settled + 1n
    case 'belowSettled':
      return a.settled - 1n
    case 'deposit':
      return a.deposit
    case 'belowDeposit':
      return a.deposit - 1n
    case 'overDeposit':
      return a.deposit + 1n
    case 'zero':
      return 0n
    case 'negative':
      return -1n
    case 'overMaxAmount':
      return MAX_AMOUNT + 1n
  }
}

function labelled(run: Run, channel: ChannelRef, labels: Labels): { chainId: number; contract: Address } {
  const own = channel.contract
  const other = isAddressEqual(own, run.world.contract) ? run.world.otherContract : run.world.contract
  return {
    chainId: labels.chainId === 'channel' ? run.world.chainId : OTHER_CHAIN_ID,
    contract: labels.contract === 'channel' ? own : other,
  }
}

function signerOf(run: Run, channel: ChannelRef, signing: Signing): LocalAccount {
  const f = run.world.fixture
  if (signing.signer === 'channelRenter') return channel.renter
  return channel.renter.address === f.renter.account.address ? f.stranger.account : f.renter.account
}

function signingDomain(run: Run, labels: { chainId: number; contract: Address }, signing: Signing) {
  if (signing.domain === 'otherChain') {
    return { ...labels, chainId: labels.chainId === run.world.chainId ? OTHER_CHAIN_ID : run.world.chainId }
  }
  if (signing.domain === 'otherContract') {
    const contract = isAddressEqual(labels.contract, run.world.contract) ? run.world.otherContract : run.world.contract
    return { ...labels, contract }
  }
  return labels
}

function describeSigning(s: Signing): string {
  const parts = [
    s.signer !== 'channelRenter' ? 'signed by the other key' : '',
    s.domain !== 'labels' ? `signed for ${s.domain}` : '',
    s.payload !== 'message' ? `signature of ${s.payload}` : '',
    s.mutation !== 'none' ? `signature ${s.mutation}` : '',
  ]
  return parts.filter((p) => p !== '').join(', ')
}

function maxTicksOf(run: Run, choice: CommitmentStep['maxTicks'], honest: number): number {
  switch (choice) {
    case 'honest':
      return honest
    case 'one':
      return 1
    case 'few':
      return 2
    case 'zero':
      return 0
    case 'cap':
      return run.cap
    case 'overCap':
      return run.cap + 1
    case 'overUint32':
      return UINT32_MAX + 1
    case 'negative':
      return -1
    case 'fraction':
      return 1.5
  }
}

/** A chain long enough for every tick a case can send, seeded from the case counter (reproducible). */
function newChain(run: Run, hashFunction: HashFunctionName, maxTicks: number): HashChain {
  const length = (Number.isInteger(maxTicks) && maxTicks >= 1 ? Math.min(maxTicks, MAX_STEPS + 4) : 1) + 2
  return new HashChain(hashFunction, length, hexToBytes(fresh(run, 'chain seed')))
}

async function runCommitmentStep(run: Run, step: CommitmentStep): Promise<void> {
  const channel = ref(run, step.channel)
  const ledger = ledgerOf(run, channel.id)
  const truth = await chainChannel(run, channel.id)
  const a = amountsOf(run, channel.id, truth)
  const current = ledger.current
  let kind = step.lease
  const elsewhere = MAIN_CHANNELS.map((name) => run.ledgers.get(lower(ref(run, name).id))?.current).find(
    (lease) => lease != null && lower(lease.channelId) !== lower(channel.id),
  )
  if ((kind === 'reanchor' || kind === 'renew') && current == null) kind = 'new'
  if (kind === 'otherChannel' && elsewhere == null) kind = 'new'
  if (kind === 'replay' && ledger.lastBuilt == null) kind = 'new'
  if (kind === 'replay') {
    const lease = ledger.lastBuilt!
    const c = lease.signed.commitment
    const expect = { channelId: c.channelId, leaseId: c.leaseId, amountPerTick: c.amountPerTick }
    await checkCommitment(
      run,
      { signed: lease.signed, expect },
      { ...lease, ticks: 0 },
      `replayed commitment on ${step.channel}`,
    )
    return
  }
  // The honest values: a new lease at the provider's price from the known total; a renewal at the lease's price from
  // the known total; a re-anchor continues the chain from the last revealed value at the lease's running total.
  let leaseId: Hex
  let chain: HashChain
  let anchor: number
  let honestBase: bigint
  let honestApt: bigint
  let honestMaxTicks: number
  const standard = Math.min(HONEST_MAX_TICKS, run.cap)
  if (kind === 'reanchor') {
    const c = current!.signed.commitment
    leaseId = current!.leaseId
    chain = current!.chain!
    anchor = current!.anchor - current!.ticks
    honestApt = c.amountPerTick
    honestBase = c.baseAmount + BigInt(current!.ticks) * c.amountPerTick
    honestMaxTicks = c.maxTicks - current!.ticks
  } else {
    leaseId = kind === 'renew' ? current!.leaseId : kind === 'otherChannel' ? elsewhere!.leaseId : fresh(run, 'lease')
    honestApt = kind === 'renew' ? current!.signed.commitment.amountPerTick : PRICE
    honestBase = a.known
    honestMaxTicks = standard
    chain = newChain(run, step.hashFunction, maxTicksOf(run, step.maxTicks, honestMaxTicks))
    anchor = chain.length
  }
  const maxTicks = maxTicksOf(run, step.maxTicks, honestMaxTicks)
  const base0 = step.baseAmount === 'honest' ? honestBase : a.known
  let amountPerTick: bigint
  switch (step.amountPerTick) {
    case 'honest':
      amountPerTick = honestApt
      break
    case 'one':
      amountPerTick = 1n
      break
    case 'zero':
      amountPerTick = 0n
      break
    case 'wholeDeposit':
      amountPerTick = a.deposit - base0
      break
    case 'overDeposit':
      amountPerTick = a.deposit - base0 + 1n
      break
    case 'maxAmount':
      amountPerTick = MAX_AMOUNT
      break
    case 'overMaxAmount':
      amountPerTick = MAX_AMOUNT + 1n
      break
    case 'negative':
      amountPerTick = -1n
      break
  }
  let baseAmount: bigint
  switch (step.baseAmount) {
    case 'honest':
      baseAmount = honestBase
      break
    case 'belowKnown':
      baseAmount = a.known - 1n
      break
    case 'aboveKnown':
      baseAmount = a.known + 1n
      break
    case 'belowSettled':
      baseAmount = a.settled - 1n
      break
    case 'zero':
      baseAmount = 0n
      break
    case 'firstTickAtDeposit':
      baseAmount = a.deposit - amountPerTick
      break
    case 'firstTickOverDeposit':
      baseAmount = a.deposit - amountPerTick + 1n
      break
    case 'secondTickAtDeposit':
      baseAmount = a.deposit - 2n * amountPerTick
      break
    case 'overMaxAmount':
      baseAmount = MAX_AMOUNT + 1n
      break
    case 'negative':
      baseAmount = -1n
      break
  }
  const labels = labelled(run, channel, step.labels)
  const commitment: TickCommitment = {
    ...labels,
    channelId: channel.id,
    leaseId,
    tip: bytesToHex(chain.element(anchor)),
    hashFunction: kind === 'reanchor' ? chain.hashFunction : step.hashFunction,
    amountPerTick,
    baseAmount,
    maxTicks,
  }
  const signed: SignedTickCommitment = { commitment, signature: await signCommitment(run, channel, step, commitment) }
  const expect: CommitmentMessage['expect'] = {
    channelId: step.expect.channel === 'same' ? channel.id : ref(run, step.expect.channel).id,
  }
  if (step.expect.lease === 'same') expect.leaseId = leaseId
  if (step.expect.lease === 'other') expect.leaseId = fresh(run, 'expected lease')
  if (step.expect.amountPerTick === 'same') expect.amountPerTick = amountPerTick
  if (step.expect.amountPerTick === 'other') expect.amountPerTick = amountPerTick + 1n
  const describe = `${kind} commitment on ${step.channel} (base ${baseAmount}, ${amountPerTick}/tick, maxTicks ${maxTicks}, ${commitment.hashFunction}${describeSigning(step.signing) ? `, ${describeSigning(step.signing)}` : ''})`
  const lease: HarnessLease = { leaseId, channelId: channel.id, signed, chain, anchor, ticks: 0 }
  await checkCommitment(run, { signed, expect }, lease, describe)
  // A commitment retires leases: every channel's best proof must survive it.
  for (const name of MAIN_CHANNELS) {
    const id = ref(run, name).id
    if (run.ledgers.has(lower(id))) await checkChannelState(run, id, `${describe}, on ${name}`)
  }
}

async function signCommitment(run: Run, channel: ChannelRef, step: CommitmentStep, c: TickCommitment): Promise<Hex> {
  // What is signed may differ from the message: another domain, channel or base (a pasted signature).
  let signedFor: TickCommitment = { ...c, ...signingDomain(run, c, step.signing) }
  if (step.signing.payload === 'otherChannel')
    signedFor = { ...signedFor, channelId: ref(run, otherMain(step.channel)).id }
  if (step.signing.payload === 'otherAmount') signedFor = { ...signedFor, baseAmount: c.baseAmount + 1n }
  // viem cannot sign what EIP-712 cannot encode (negative amounts, maxTicks past uint32): such a message gets a
  // signature of its nearest encodable neighbour, which is as wrong as any.
  const encodableFor: TickCommitment = {
    ...signedFor,
    amountPerTick: clamp(signedFor.amountPerTick, 0n, UINT256_MAX),
    baseAmount: clamp(signedFor.baseAmount, 0n, UINT256_MAX),
    maxTicks: Number.isInteger(signedFor.maxTicks) ? Math.min(Math.max(signedFor.maxTicks, 0), UINT32_MAX) : 1,
  }
  const { signature } = await signTickCommitment(signerOf(run, channel, step.signing), encodableFor)
  return mutateSignature(signature, step.signing.mutation)
}

/** Math.max for bigints. */
function larger(a: bigint, b: bigint): bigint {
  return a > b ? a : b
}

function clamp(x: bigint, lo: bigint, hi: bigint): bigint {
  return x < lo ? lo : x > hi ? hi : x
}

async function runTickStep(run: Run, step: TickStep): Promise<void> {
  const name = step.channel === 'leased' ? run.leased : step.channel
  const channel = ref(run, name)
  const ledger = ledgerOf(run, channel.id)
  let source: HarnessLease | undefined
  if (step.lease === 'current') source = ledger.current
  if (step.lease === 'retired') source = ledger.retired.at(-1)
  if (step.lease === 'refused') source = ledger.refused.at(-1)
  const leaseId = source?.leaseId ?? fresh(run, 'unknown lease')
  const t = source?.ticks ?? 0
  const random = hexToBytes(fresh(run, 'random preimage'))
  const next = (source != null ? preimageOf(source, t + 1) : undefined) ?? random
  let preimage: Uint8Array
  switch (step.preimage) {
    case 'next':
      preimage = next
      break
    case 'replay':
      preimage = (source != null ? preimageOf(source, t) : undefined) ?? random
      break
    case 'skip':
      preimage = (source != null ? preimageOf(source, t + 2) : undefined) ?? random
      break
    case 'random':
      preimage = random
      break
    case 'short':
      preimage = next.slice(0, 31)
      break
    case 'long':
      preimage = new Uint8Array([...next, 0])
      break
    case 'otherLease': {
      const other = [...run.active.values()].find((l) => lower(l.leaseId) !== lower(leaseId) && l.chain != null)
      preimage = (other != null ? preimageOf(other, other.ticks + 1) : undefined) ?? random
      break
    }
  }
  const index =
    step.index === 'right' ? t + 1 : step.index === 'behind' ? t : step.index === 'ahead' ? t + 2 : undefined
  // The receiver checks the tick against the current lease of that id, whichever chain the preimage came from.
  const lease = run.active.get(lower(leaseId))
  const describe = `tick ${index ?? '(no index)'} (${step.preimage} preimage) of the ${source == null ? 'unknown' : step.lease} lease on ${name}`
  await checkTick(run, { leaseId, preimage, ...(index != null ? { index } : {}), lease }, describe, source)
  await checkChannelState(run, channel.id, describe)
}

async function runVoucherStep(run: Run, step: VoucherStep): Promise<void> {
  const channel = ref(run, step.channel)
  const truth = await chainChannel(run, channel.id)
  const total = voucherTotal(amountsOf(run, channel.id, truth), step.total)
  const labels = labelled(run, channel, step.labels)
  let signedFor = { ...signingDomain(run, labels, step.signing), channelId: channel.id, total }
  if (step.signing.payload === 'otherChannel')
    signedFor = { ...signedFor, channelId: ref(run, otherMain(step.channel)).id }
  if (step.signing.payload === 'otherAmount') signedFor = { ...signedFor, total: total + 1n }
  const { signature } = await signVoucher(signerOf(run, channel, step.signing), {
    ...signedFor,
    total: clamp(signedFor.total, 0n, UINT256_MAX),
  })
  const voucher: Voucher = {
    ...labels,
    channelId: channel.id,
    total,
    signature: mutateSignature(signature, step.signing.mutation),
  }
  const expect: VoucherMessage['expect'] =
    step.expect === 'omit' ? {} : { channelId: step.expect === 'same' ? channel.id : ref(run, step.expect).id }
  const describe = `voucher for ${total} (${step.total}) on ${step.channel}${describeSigning(step.signing) ? `, ${describeSigning(step.signing)}` : ''}`
  await checkVoucher(run, { voucher, expect }, describe)
  await checkChannelState(run, channel.id, describe)
}

/** The provider settles on-chain, then drops its cache entry (as the Settler does). */
async function runSettleStep(run: Run, step: SettleStep): Promise<void> {
  const channel = ref(run, step.channel)
  ledgerOf(run, channel.id)
  const truth = await chainChannel(run, channel.id)
  if (truth == null || settleWindowOver(run, truth, await now(run))) return
  const wallet = run.world.fixture.provider.wallet
  const contract = run.world.contract
  const describe = `settle ${step.proof} on ${step.channel}`
  try {
    if (step.proof === 'best') {
      const proof = run.receiver.bestProof(channel.id)
      if (proof == null || proof.total <= truth.settled) return
      await settleProof(wallet, { contract, proof })
    } else if (step.proof === 'bestVoucher') {
      const voucher = run.receiver.bestVoucher(channel.id)
      if (voucher == null || voucher.total <= truth.settled) return
      await settleVoucher(wallet, { contract, voucher })
    } else {
      const total = voucherTotal(amountsOf(run, channel.id, truth), step.total)
      if (total <= truth.settled || total > truth.deposit) return
      const voucher = await signVoucher(channel.renter, {
        chainId: run.world.chainId,
        contract,
        channelId: channel.id,
        total,
      })
      await settleVoucher(wallet, { contract, voucher })
      const ledger = ledgerOf(run, channel.id)
      if (total > ledger.outOfBand) ledger.outOfBand = total
      if (total > ledger.authorised) ledger.authorised = total
    }
  } catch (err) {
    disagree(run, 'safety', `${describe}: the receiver's proof did not settle: ${(err as Error).message}`)
  }
  run.report.events++
  run.cache.invalidate(channel.id)
}

async function now(run: Run): Promise<bigint> {
  const block = await run.world.fixture.publicClient.getBlock()
  return block.timestamp
}

function settleWindowOver(run: Run, truth: ChainChannel, timestamp: bigint): boolean {
  return truth.closeRequestedAt !== 0n && timestamp >= truth.closeRequestedAt + run.world.challengePeriod
}

async function runChainStep(
  run: Run,
  step: TopUpStep | RequestCloseStep | WithdrawStep | PassWindowStep,
): Promise<void> {
  const f = run.world.fixture
  const contract = run.world.contract
  if (step.kind === 'passWindow') {
    // The settler answers each close request with the best proof inside the window.
    for (const name of MAIN_CHANNELS) {
      const channel = ref(run, name)
      const truth = await chainChannel(run, channel.id)
      const proof = run.receiver.bestProof(channel.id)
      if (truth == null || truth.closeRequestedAt === 0n || proof == null || proof.total <= truth.settled) continue
      if (settleWindowOver(run, truth, await now(run))) continue
      try {
        await settleProof(f.provider.wallet, { contract, proof })
      } catch (err) {
        disagree(
          run,
          'safety',
          `answering the close of ${name}: the best proof did not settle: ${(err as Error).message}`,
        )
      }
    }
    await f.chain.increaseTime(run.world.challengePeriod + 1n)
    // An hour is far past the cache's TTL in a daemon: every entry would be re-read.
    for (const name of MAIN_CHANNELS) run.cache.invalidate(ref(run, name).id)
    run.report.events++
    return
  }
  const channel = ref(run, step.channel)
  ledgerOf(run, channel.id)
  const truth = await chainChannel(run, channel.id)
  if (truth == null) return
  if (step.kind === 'topUp') {
    if (truth.closeRequestedAt !== 0n) return
    await topUpChannel(f.renter.wallet, {
      contract,
      channelId: channel.id,
      amount: step.amount === 'small' ? 1n : 500n,
    })
  } else if (step.kind === 'requestClose') {
    if (truth.closeRequestedAt !== 0n) return
    await requestClose(f.renter.wallet, { contract, channelId: channel.id })
  } else {
    if (!settleWindowOver(run, truth, await now(run))) return
    await withdrawChannel(f.renter.wallet, { contract, channelId: channel.id })
  }
  run.report.events++
  if (step.observed) run.cache.invalidate(channel.id)
}

/** End of a case: the provider settles every best proof it can, and each main channel must conserve money. */
async function finishCase(run: Run): Promise<void> {
  run.step = 0
  const f = run.world.fixture
  const channels: ChannelMoney[] = []
  const timestamp = await now(run)
  for (const name of MAIN_CHANNELS) {
    const channel = ref(run, name)
    // A channel no step touched still holds its deposit untouched: nothing to account for.
    if (!run.ledgers.has(lower(channel.id))) continue
    const ledger = ledgerOf(run, channel.id)
    const truth = await chainChannel(run, channel.id)
    const proof = run.receiver.bestProof(channel.id)
    let finalSettlement = true
    if (truth != null && proof != null && proof.total > truth.settled) {
      if (settleWindowOver(run, truth, timestamp)) {
        finalSettlement = false
      } else {
        try {
          await settleProof(f.provider.wallet, { contract: run.world.contract, proof })
        } catch (err) {
          finalSettlement = false
          disagree(
            run,
            'safety',
            `final settlement of ${name}: the best proof did not settle: ${(err as Error).message}`,
          )
        }
      }
    }
    const acknowledged = run.receiver.channelTotal(channel.id)
    channels.push({
      channelId: channel.id,
      authorised: larger(ledger.authorised, ledger.outOfBand),
      acknowledged: larger(acknowledged, ledger.outOfBand),
      finalSettlement,
    })
  }
  if (channels.length === 0) return
  try {
    await assertMoneyConserved({ client: f.publicClient, contract: run.world.contract, channels })
  } catch (err) {
    disagree(run, 'money', (err as Error).message)
  }
}

/**
 * Run one case between an anvil snapshot and its revert, with a fresh store and receiver, and report every message
 * and every disagreement. Never throws for a disagreement (the caller decides); throws if the harness itself breaks.
 */
export async function runCase(
  world: DifferentialWorld,
  c: DifferentialCase,
  options: { wrap?: ReceiverWrapper } = {},
): Promise<CaseReport> {
  const snapshot = await rpc(world, 'evm_snapshot')
  const run = await openRun(world, c.receiver, options.wrap)
  try {
    for (const [i, step] of c.steps.entries()) {
      run.step = i + 1
      switch (step.kind) {
        case 'commitment':
          await runCommitmentStep(run, step)
          break
        case 'tick':
          await runTickStep(run, step)
          break
        case 'voucher':
          await runVoucherStep(run, step)
          break
        case 'settle':
          await runSettleStep(run, step)
          break
        case 'restart':
          await restart(run)
          run.report.events++
          for (const name of MAIN_CHANNELS) await checkChannelState(run, ref(run, name).id, 'after a restart')
          break
        default:
          await runChainStep(run, step)
      }
    }
    await finishCase(run)
    return run.report
  } finally {
    await closeRun(run)
    await rpc(world, 'evm_revert', [snapshot])
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Honest leases: the real PaymentSender against the receiver, through the same checks
// ---------------------------------------------------------------------------------------------------------------

export interface HonestLeaseCase {
  channel: MainChannel
  amountPerTick: bigint
  maxTicks: number
  voucherEveryTicks: number
  reanchorEveryTicks?: number
  actions: Array<'tick' | 'voucher' | 'settle' | 'restart'>
  /** The renter makes one more tick that never arrives (lost in flight). */
  loseLastTick: boolean
}

export function honestLeaseArbitrary(): fc.Arbitrary<HonestLeaseCase> {
  return fc
    .record({
      channel: mainChannelArbitrary,
      amountPerTick: fc.bigInt({ min: 1n, max: 60n }),
      maxTicks: fc.integer({ min: 1, max: 8 }),
      voucherEveryTicks: fc.integer({ min: 1, max: 6 }),
      reanchor: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
      actions: fc.array(
        pick<HonestLeaseCase['actions'][number]>(['tick', 80], ['voucher', 8], ['settle', 8], ['restart', 4]),
        {
          minLength: 1,
          maxLength: 24,
        },
      ),
      loseLastTick: fc.boolean(),
    })
    .map(({ reanchor, ...rest }) => ({ ...rest, ...(reanchor != null ? { reanchorEveryTicks: reanchor } : {}) }))
}

/**
 * An honest renter (PaymentSender) leases on one channel, renewing when a chain runs out, until the deposit runs out
 * or the actions do; every message goes through the same checks as the adversarial ones. At the end the provider
 * settles, and the channel must conserve money with at most one tick (the lost one) authorised but unacknowledged.
 */
export async function runHonestLease(world: DifferentialWorld, c: HonestLeaseCase): Promise<CaseReport> {
  const snapshot = await rpc(world, 'evm_snapshot')
  const run = await openRun(world, { sha256: false, smallCap: false })
  const senderStore = await createPaymentStore({ path: `${run.storePath}-sender`, sync: false })
  try {
    const channel = ref(run, c.channel)
    const sender = createPaymentSender(
      { store: senderStore, account: channel.renter },
      {
        chainId: world.chainId,
        contract: world.contract,
        voucherEveryTicks: c.voucherEveryTicks,
        ...(c.reanchorEveryTicks != null ? { reanchorEveryTicks: c.reanchorEveryTicks } : {}),
      },
    )
    await sender.start()
    const expect = (s: SignedTickCommitment) => ({
      channelId: channel.id,
      leaseId: s.commitment.leaseId,
      amountPerTick: c.amountPerTick,
    })
    const lease = (s: SignedTickCommitment): HarnessLease => ({
      leaseId: s.commitment.leaseId,
      channelId: channel.id,
      signed: s,
      anchor: s.commitment.maxTicks,
      ticks: 0,
    })
    let signed = await sender.startLease({
      channelId: channel.id,
      amountPerTick: c.amountPerTick,
      maxTicks: c.maxTicks,
      deposit: DEPOSIT,
    })
    const leaseId = signed.commitment.leaseId
    run.step = 1
    await checkCommitment(run, { signed, expect: expect(signed) }, lease(signed), 'the lease commitment')
    let ticksLeft = c.maxTicks
    let depositLeft = true
    const tick = async (deliver: boolean): Promise<void> => {
      if (ticksLeft === 0) {
        signed = await sender.renewLease(leaseId, { maxTicks: c.maxTicks })
        ticksLeft = c.maxTicks
        await checkCommitment(run, { signed, expect: expect(signed) }, lease(signed), 'a renewal')
      }
      let next: Awaited<ReturnType<typeof sender.nextTick>>
      try {
        next = await sender.nextTick(leaseId)
      } catch (err) {
        if ((err as PayError).code !== 'AMOUNT_EXCEEDS_DEPOSIT') throw err
        depositLeft = false
        return
      }
      ticksLeft--
      if (!deliver) return
      const t = next.tick
      await checkTick(
        run,
        { leaseId, preimage: t.preimage, index: t.index, lease: run.active.get(lower(leaseId)) },
        `tick ${t.index}`,
      )
      if (next.voucher != null)
        await checkVoucher(run, { voucher: next.voucher, expect: { channelId: channel.id } }, 'a voucher')
      if (next.commitment != null) {
        signed = next.commitment
        ticksLeft = signed.commitment.maxTicks
        await checkCommitment(run, { signed, expect: expect(signed) }, lease(signed), 'a re-anchor')
      }
    }
    for (const [i, action] of c.actions.entries()) {
      run.step = i + 2
      if (action === 'tick' && depositLeft) await tick(true)
      if (action === 'voucher') {
        const voucher = await sender.signVoucher(channel.id)
        await checkVoucher(run, { voucher, expect: { channelId: channel.id } }, 'a voucher on request')
      }
      if (action === 'settle')
        await runSettleStep(run, { kind: 'settle', channel: c.channel, proof: 'best', total: 'honest' })
      if (action === 'restart') await restart(run)
      await checkChannelState(run, channel.id, `after ${action}`)
    }
    if (c.loseLastTick && depositLeft) await tick(false)
    run.step = 0
    const truth = await chainChannel(run, channel.id)
    const proof = run.receiver.bestProof(channel.id)
    if (truth != null && proof != null && proof.total > truth.settled) {
      await settleProof(world.fixture.provider.wallet, { contract: world.contract, proof })
    }
    try {
      await assertMoneyConserved({
        client: world.fixture.publicClient,
        contract: world.contract,
        channels: [
          {
            channelId: channel.id,
            authorised: sender.channelTotal(channel.id),
            acknowledged: run.receiver.channelTotal(channel.id),
            finalSettlement: true,
          },
        ],
        maxUnacknowledged: c.amountPerTick,
      })
    } catch (err) {
      disagree(run, 'money', (err as Error).message)
    }
    return run.report
  } finally {
    await senderStore.stop()
    await rm(`${run.storePath}-sender`, { recursive: true, force: true })
    await closeRun(run)
    await rpc(world, 'evm_revert', [snapshot])
  }
}

/** A case as JSON (bigints as "<digits>n"), to paste back into a test. */
export function formatCase(c: DifferentialCase | HonestLeaseCase): string {
  return JSON.stringify(c, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))
}

/** A disagreement report a person can act on: the case's steps and what went wrong. */
export function formatDisagreements(report: CaseReport): string {
  return report.disagreements.map((d) => `step ${d.step} [${d.type}] ${d.detail}`).join('\n')
}
