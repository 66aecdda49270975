import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { bytesToHex, type Hex, toFunctionSelector, zeroAddress } from 'viem'
import { deployContract, readContract, waitForTransactionReceipt, writeContract } from 'viem/actions'
import { requestClose, withdrawChannel } from '../../src/pay/actions/close-channel.js'
import { getChannel } from '../../src/pay/actions/get-channel.js'
import { feesToSend } from '../../src/pay/actions/internal.js'
import { openChannel } from '../../src/pay/actions/open-channel.js'
import { settleTicks, settleVoucher } from '../../src/pay/actions/settle-channel.js'
import { topUpChannel } from '../../src/pay/actions/top-up-channel.js'
import { artifactPath, compileContracts, renderArtifact } from '../../src/pay/contract/compile.js'
import { signTickCommitment, signVoucher } from '../../src/pay/eip712.js'
import { HashChain } from '../../src/pay/hash-chain.js'
import type { SignedTickCommitment } from '../../src/pay/types.js'
import { balanceOf, type PayFixture, rejectsWithCode, setupPayFixture } from './helpers.js'

describe('PaymentChannel contract (anvil)', () => {
  let f: PayFixture
  before(async () => {
    f = await setupPayFixture()
  })
  after(async () => {
    await f?.chain.stop()
  })

  const leaseId = (n: number): Hex => bytesToHex(new Uint8Array(32).fill(n))

  async function commitment(
    channelId: Hex,
    chain: HashChain,
    baseAmount: bigint,
    amountPerTick: bigint,
    lease = 1,
  ): Promise<SignedTickCommitment> {
    return signTickCommitment(f.renter.account, {
      chainId: f.chain.chainId,
      contract: f.chain.contract,
      channelId,
      leaseId: leaseId(lease),
      tip: chain.tip,
      hashFunction: chain.hashFunction,
      amountPerTick,
      baseAmount,
      maxTicks: chain.length,
    })
  }

  it('the committed artifact matches a fresh solc-js compile of protocols/*.sol', async () => {
    const fresh = renderArtifact(await compileContracts())
    assert.equal(await readFile(artifactPath(), 'utf8'), fresh)
  })

  for (const asset of ['ETH', 'ERC-20'] as const) {
    it(`${asset}: open, top up, settle by voucher, settle by ticks, reuse after settle`, async () => {
      const token = asset === 'ETH' ? undefined : f.chain.token
      const { contract } = f.chain
      const { channelId, deposit } = await openChannel(f.renter.wallet, {
        contract,
        provider: f.provider.account.address,
        providerNode: f.providerNode,
        token,
        amount: 1_000_000n,
      })
      assert.equal(deposit, 1_000_000n)
      const up = await topUpChannel(f.renter.wallet, { contract, channelId, amount: 500_000n })
      assert.equal(up.deposit, 1_500_000n)
      const state = await getChannel(f.publicClient, { contract, channelId })
      assert.equal(state.renter, f.renter.account.address)
      assert.equal(state.provider, f.provider.account.address)
      assert.equal(state.token, token ?? zeroAddress)
      assert.equal(state.settled, 0n)

      // Settle by voucher: the provider's token balance grows by exactly the voucher (ETH: minus gas).
      const before = await balanceOf(f, f.provider.account.address, token)
      const voucher = await signVoucher(f.renter.account, {
        chainId: f.chain.chainId,
        contract,
        channelId,
        total: 100_000n,
      })
      const s1 = await settleVoucher(f.provider.wallet, { contract, voucher })
      assert.equal(s1.paid, 100_000n)
      const afterVoucher = await balanceOf(f, f.provider.account.address, token)
      if (token != null) assert.equal(afterVoucher - before, 100_000n)

      // Settle by ticks: a lease that starts at the channel's total, 10 per tick, 60 ticks.
      const chain = new HashChain('keccak256', 60)
      const c = await commitment(channelId, chain, 100_000n, 10n)
      const s2 = await settleTicks(f.provider.wallet, {
        contract,
        commitment: c,
        ticks: 42,
        preimage: bytesToHex(chain.preimage(42)),
      })
      assert.equal(s2.total, 100_420n)
      assert.equal(s2.paid, 420n)
      // The same lease, later ticks: only the difference is paid.
      const s3 = await settleTicks(f.provider.wallet, {
        contract,
        commitment: c,
        ticks: 60,
        preimage: bytesToHex(chain.preimage(60)),
      })
      assert.equal(s3.paid, 180n)

      // Reuse: the channel stays open; a second lease starts at the settled total.
      const chain2 = new HashChain('sha256', 30)
      const c2 = await commitment(channelId, chain2, 100_600n, 5n, 2)
      const s4 = await settleTicks(f.provider.wallet, {
        contract,
        commitment: c2,
        ticks: 30,
        preimage: bytesToHex(chain2.preimage(30)),
      })
      assert.equal(s4.total, 100_750n)
      const v2 = await signVoucher(f.renter.account, { chainId: f.chain.chainId, contract, channelId, total: 200_000n })
      assert.equal((await settleVoucher(f.provider.wallet, { contract, voucher: v2 })).paid, 200_000n - 100_750n)
      const end = await getChannel(f.publicClient, { contract, channelId })
      assert.equal(end.settled, 200_000n)
      assert.equal(end.deposit, 1_500_000n)
      if (token != null) assert.equal((await balanceOf(f, f.provider.account.address, token)) - before, 200_000n)
    })
  }

  it('renter exit without an answer: withdraw after the window refunds deposit minus settled', async () => {
    const { contract } = f.chain
    const token = f.chain.token
    const { channelId } = await openChannel(f.renter.wallet, {
      contract,
      provider: f.provider.account.address,
      providerNode: f.providerNode,
      token,
      amount: 10_000n,
    })
    const voucher = await signVoucher(f.renter.account, {
      chainId: f.chain.chainId,
      contract,
      channelId,
      total: 1_000n,
    })
    await settleVoucher(f.provider.wallet, { contract, voucher })
    const { deadline } = await requestClose(f.renter.wallet, { contract, channelId })
    assert.ok(deadline > 0n)
    await rejectsWithCode(topUpChannel(f.renter.wallet, { contract, channelId, amount: 1n }), 'CHANNEL_CLOSING')
    await rejectsWithCode(withdrawChannel(f.renter.wallet, { contract, channelId }), 'CHALLENGE_WINDOW')
    await f.chain.increaseTime(BigInt(f.chain.challengePeriod) + 1n)
    const before = await balanceOf(f, f.renter.account.address, token)
    const { refund } = await withdrawChannel(f.renter.wallet, { contract, channelId })
    assert.equal(refund, 9_000n)
    assert.equal((await balanceOf(f, f.renter.account.address, token)) - before, 9_000n)
    await rejectsWithCode(getChannel(f.publicClient, { contract, channelId }), 'CHANNEL_NOT_OPEN')
    // A late proof after the window and the withdraw pays nothing.
    const late = await signVoucher(f.renter.account, { chainId: f.chain.chainId, contract, channelId, total: 2_000n })
    await rejectsWithCode(settleVoucher(f.provider.wallet, { contract, voucher: late }), 'CHANNEL_NOT_OPEN')
  })

  it('renter exit with the provider answering inside the window; settling after the window is refused', async () => {
    const { contract } = f.chain
    const { channelId } = await openChannel(f.renter.wallet, {
      contract,
      provider: f.provider.account.address,
      providerNode: f.providerNode,
      amount: 10_000n,
    })
    const chain = new HashChain('keccak256', 100)
    const c = await commitment(channelId, chain, 0n, 20n)
    await requestClose(f.renter.wallet, { contract, channelId })
    await f.chain.increaseTime(BigInt(f.chain.challengePeriod) / 2n)
    const answered = await settleTicks(f.provider.wallet, {
      contract,
      commitment: c,
      ticks: 50,
      preimage: bytesToHex(chain.preimage(50)),
    })
    assert.equal(answered.paid, 1_000n)
    await f.chain.increaseTime(BigInt(f.chain.challengePeriod))
    const v = await signVoucher(f.renter.account, { chainId: f.chain.chainId, contract, channelId, total: 3_000n })
    await rejectsWithCode(settleVoucher(f.provider.wallet, { contract, voucher: v }), 'CHALLENGE_WINDOW')
    const { refund } = await withdrawChannel(f.renter.wallet, { contract, channelId })
    assert.equal(refund, 9_000n)
  })

  it('rejects every bad proof on-chain with a typed error', async () => {
    const { contract, chainId } = f.chain
    const provider = f.provider.account.address
    const a = await openChannel(f.renter.wallet, { contract, provider, providerNode: f.providerNode, amount: 10_000n })
    const b = await openChannel(f.renter.wallet, { contract, provider, providerNode: f.providerNode, amount: 10_000n })
    const good = await signVoucher(f.renter.account, { chainId, contract, channelId: a.channelId, total: 500n })
    const w = f.provider.wallet
    // Forged: signed by someone other than the renter.
    const forged = await signVoucher(f.stranger.account, { chainId, contract, channelId: a.channelId, total: 500n })
    await rejectsWithCode(settleVoucher(w, { contract, voucher: forged }), 'WRONG_SIGNER')
    // Signed for channel a, submitted for channel b.
    await rejectsWithCode(settleVoucher(w, { contract, voucher: { ...good, channelId: b.channelId } }), 'WRONG_SIGNER')
    // Signed for another chain or another contract.
    const otherChain = await signVoucher(f.renter.account, {
      chainId: 1,
      contract,
      channelId: a.channelId,
      total: 500n,
    })
    await rejectsWithCode(settleVoucher(w, { contract, voucher: { ...otherChain, chainId } }), 'WRONG_SIGNER')
    const otherContract = await signVoucher(f.renter.account, {
      chainId,
      contract: f.chain.token,
      channelId: a.channelId,
      total: 500n,
    })
    await rejectsWithCode(settleVoucher(w, { contract, voucher: { ...otherContract, contract } }), 'WRONG_SIGNER')
    // Over the deposit.
    const over = await signVoucher(f.renter.account, { chainId, contract, channelId: a.channelId, total: 10_001n })
    await rejectsWithCode(settleVoucher(w, { contract, voucher: over }), 'AMOUNT_EXCEEDS_DEPOSIT')
    // Only the provider settles.
    await rejectsWithCode(settleVoucher(f.stranger.wallet, { contract, voucher: good }), 'NOT_CHANNEL_PARTY')
    // Good, then a replay and a lower amount.
    assert.equal((await settleVoucher(w, { contract, voucher: good })).paid, 500n)
    await rejectsWithCode(settleVoucher(w, { contract, voucher: good }), 'AMOUNT_NOT_INCREASING')
    const lower = await signVoucher(f.renter.account, { chainId, contract, channelId: a.channelId, total: 400n })
    await rejectsWithCode(settleVoucher(w, { contract, voucher: lower }), 'AMOUNT_NOT_INCREASING')

    // Ticks: wrong preimage, out of range, a forged commitment, over the deposit, replay.
    const chain = new HashChain('keccak256', 20)
    const c = await commitment(a.channelId, chain, 500n, 100n)
    const preimage = (k: number): Hex => bytesToHex(chain.preimage(k))
    await rejectsWithCode(
      settleTicks(w, { contract, commitment: c, ticks: 5, preimage: preimage(4) }),
      'INVALID_PREIMAGE',
    )
    await rejectsWithCode(
      settleTicks(w, { contract, commitment: c, ticks: 0, preimage: c.commitment.tip }),
      'TICK_OUT_OF_RANGE',
    )
    await rejectsWithCode(
      settleTicks(w, { contract, commitment: c, ticks: 21, preimage: preimage(20) }),
      'TICK_OUT_OF_RANGE',
    )
    const forgedCommitment = await signTickCommitment(f.stranger.account, c.commitment)
    await rejectsWithCode(
      settleTicks(w, { contract, commitment: forgedCommitment, ticks: 5, preimage: preimage(5) }),
      'WRONG_SIGNER',
    )
    const tampered = { ...c, commitment: { ...c.commitment, amountPerTick: 1_000n } }
    await rejectsWithCode(
      settleTicks(w, { contract, commitment: tampered, ticks: 5, preimage: preimage(5) }),
      'WRONG_SIGNER',
    )
    const big = await commitment(a.channelId, chain, 500n, 1_000n)
    await rejectsWithCode(
      settleTicks(w, { contract, commitment: big, ticks: 10, preimage: preimage(10) }),
      'AMOUNT_EXCEEDS_DEPOSIT',
    )
    assert.equal((await settleTicks(w, { contract, commitment: c, ticks: 5, preimage: preimage(5) })).paid, 500n)
    await rejectsWithCode(
      settleTicks(w, { contract, commitment: c, ticks: 5, preimage: preimage(5) }),
      'AMOUNT_NOT_INCREASING',
    )
    // The earlier voucher is now below the settled total: a replay pays nothing.
    await rejectsWithCode(settleVoucher(w, { contract, voucher: good }), 'AMOUNT_NOT_INCREASING')
    const state = await getChannel(f.publicClient, { contract, channelId: a.channelId })
    assert.equal(state.settled, 1_000n)
  })

  it('resists re-entrancy: a provider contract that re-enters settle from its payment is paid once', async () => {
    const solc = createRequire(import.meta.url)('solc') as { compile(input: string): string }
    const here = dirname(fileURLToPath(import.meta.url))
    const source = await readFile(
      join(here, '..', '..', '..', 'test', 'fixtures', 'pay', 'ReentrantProvider.sol'),
      'utf8',
    )
    const output = JSON.parse(
      solc.compile(
        JSON.stringify({
          language: 'Solidity',
          sources: { 'ReentrantProvider.sol': { content: source } },
          settings: { outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } },
        }),
      ),
    )
    const compiled = output.contracts['ReentrantProvider.sol'].ReentrantProvider
    const { contract, chainId } = f.chain
    // Raw viem on the dev chain: pass the fees (anvil's suggested 1 gwei tip is above its low fee cap).
    const fees = await feesToSend(f.stranger.wallet)
    const deployHash = await deployContract(f.stranger.wallet, {
      ...(fees as object),
      abi: compiled.abi,
      bytecode: `0x${compiled.evm.bytecode.object}`,
      args: [contract],
      account: f.stranger.account,
      chain: f.stranger.wallet.chain,
    })
    const hostile = (await waitForTransactionReceipt(f.publicClient, { hash: deployHash })).contractAddress!
    const { channelId } = await openChannel(f.renter.wallet, {
      contract,
      provider: hostile,
      providerNode: f.providerNode,
      amount: 10_000n,
    })
    const first = await signVoucher(f.renter.account, { chainId, contract, channelId, total: 100n })
    const second = await signVoucher(f.renter.account, { chainId, contract, channelId, total: 300n })
    const hash = await writeContract(f.stranger.wallet, {
      ...(fees as object),
      address: hostile,
      abi: compiled.abi,
      functionName: 'attack',
      args: [channelId, first.total, first.signature, second.total, second.signature],
      account: f.stranger.account,
      chain: f.stranger.wallet.chain,
    })
    await waitForTransactionReceipt(f.publicClient, { hash })
    const read = (functionName: string) =>
      readContract(f.publicClient, { address: hostile, abi: compiled.abi, functionName })
    assert.equal(await read('received'), 100n)
    assert.equal(await read('payments'), 1n)
    assert.equal(await read('lastError'), toFunctionSelector('Reentrancy()'))
    assert.equal((await getChannel(f.publicClient, { contract, channelId })).settled, 100n)
  })
})
