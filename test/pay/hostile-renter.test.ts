import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type Hex, keccak256, toBytes } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { simulateContract } from 'viem/actions'
import { openChannel } from '../../src/pay/actions/open-channel.js'
import { settleProof, settleVoucher } from '../../src/pay/actions/settle-channel.js'
import { verifyPaymentContract } from '../../src/pay/actions/verify-contract.js'
import { ChannelStateCache } from '../../src/pay/channel-state-cache.js'
import { createPayWalletClient } from '../../src/pay/clients.js'
import { PAYMENT_CHANNEL_ABI } from '../../src/pay/contract/artifact.js'
import { startDevChain } from '../../src/pay/dev-chain.js'
import { normalizeSignature, signTickCommitment, signVoucher } from '../../src/pay/eip712.js'
import { ChallengePeriodTooShortError, UnknownContractError } from '../../src/pay/errors.js'
import { HashChain } from '../../src/pay/hash-chain.js'
import { createPaymentReceiver, type PaymentReceiver } from '../../src/pay/payment-receiver.js'
import { openProviderPayments, openRenterPayments } from '../../src/pay/payment-state.js'
import { createPaymentStore, type PaymentStore } from '../../src/pay/payment-store.js'
import type { TickCommitment } from '../../src/pay/types.js'
import { type PayFixture, rejectsWithCode, setupPayFixture } from './helpers.js'

/** secp256k1's order: (r, n - s) with the other v is the same signature, "high s". */
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

/** The malleable twin of a low-s signature: recovers the same signer in viem, refused by the contract. */
function highS(signature: Hex): Hex {
  const s = BigInt(`0x${signature.slice(66, 130)}`)
  const v = Number.parseInt(signature.slice(130), 16)
  return `0x${signature.slice(2, 66)}${(N - s).toString(16).padStart(64, '0')}${(v === 27 ? 28 : 27).toString(16)}`
}

describe('a hostile renter takes no money (anvil)', () => {
  let f: PayFixture
  let dir: string
  const stores: PaymentStore[] = []

  before(async () => {
    f = await setupPayFixture()
    dir = await mkdtemp(join(tmpdir(), 'parkbench-hostile-'))
  })
  after(async () => {
    for (const s of stores) await s.stop()
    await f?.chain.stop()
    await rm(dir, { recursive: true, force: true })
  })

  let n = 0
  async function receiver(providerNode: Hex = f.providerNode): Promise<PaymentReceiver> {
    const store = await createPaymentStore({ path: join(dir, `r${n++}`) })
    stores.push(store)
    const r = createPaymentReceiver(
      { store, channels: new ChannelStateCache({ client: f.publicClient }, { contract: f.chain.contract }) },
      { chainId: f.chain.chainId, contract: f.chain.contract, provider: f.provider.account.address, providerNode },
    )
    await r.start()
    return r
  }

  async function open(amount = 10_000n, providerNode: Hex = f.providerNode): Promise<Hex> {
    const { channelId } = await openChannel(f.renter.wallet, {
      contract: f.chain.contract,
      provider: f.provider.account.address,
      providerNode,
      amount,
    })
    return channelId
  }

  it('high-s signatures are refused off-chain, as the contract refuses them; normalised, the same proof settles', async () => {
    const channelId = await open()
    const r = await receiver()
    const { chainId, contract } = f.chain
    const voucher = await signVoucher(f.renter.account, { chainId, contract, channelId, total: 100n })
    const malleable = { ...voucher, signature: highS(voucher.signature) }
    // On-chain the high-s twin is refused, so off-chain it must be too: nothing the contract cannot pay is acked.
    await assert.rejects(
      simulateContract(f.publicClient, {
        address: contract,
        abi: PAYMENT_CHANNEL_ABI,
        functionName: 'settle',
        args: [channelId, 100n, malleable.signature],
        account: f.provider.account,
      }),
      (err: Error) => /InvalidSignature/.test(err.message),
    )
    await rejectsWithCode(r.acceptVoucher(malleable), 'WRONG_SIGNER')
    // v outside {0, 1, 27, 28}: the contract refuses it whatever viem recovers.
    for (const v of ['02', '1d', 'ff']) {
      const odd = { ...voucher, signature: `${voucher.signature.slice(0, 130)}${v}` as Hex }
      await rejectsWithCode(r.acceptVoucher(odd), 'WRONG_SIGNER')
    }
    assert.equal(r.channelTotal(channelId), 0n)

    const chain = new HashChain('keccak256', 10)
    const c: TickCommitment = {
      chainId,
      contract,
      channelId,
      leaseId: keccak256(toBytes('high-s lease')),
      tip: chain.tip,
      hashFunction: 'keccak256',
      amountPerTick: 10n,
      baseAmount: 0n,
      maxTicks: 10,
    }
    const signed = await signTickCommitment(f.renter.account, c)
    await rejectsWithCode(
      r.acceptCommitment({ ...signed, signature: highS(signed.signature) }, { channelId }),
      'COMMITMENT_NOT_SIGNED',
    )
    await rejectsWithCode(r.acceptTick(c.leaseId, chain.preimage(1)), 'UNKNOWN_LEASE')

    // The settle action normalises what it sends: a stored high-s proof (from an older receiver) still settles.
    assert.equal(normalizeSignature(malleable.signature), voucher.signature)
    const paid = await settleVoucher(f.provider.wallet, {
      contract,
      voucher: { ...voucher, signature: malleable.signature },
    })
    assert.equal(paid.paid, 100n)
  })

  it('one payout key on two nodes: a channel serves only the node it is bound to, so the key is paid X + Y', async () => {
    const nodeA = keccak256(toBytes('node A'))
    const nodeB = keccak256(toBytes('node B'))
    const a = await receiver(nodeA)
    const b = await receiver(nodeB)
    const channelA = await open(10_000n, nodeA)
    const sign = (channelId: Hex, leaseId: string, chain: HashChain) =>
      signTickCommitment(f.renter.account, {
        chainId: f.chain.chainId,
        contract: f.chain.contract,
        channelId,
        leaseId: keccak256(toBytes(leaseId)),
        tip: chain.tip,
        hashFunction: 'keccak256',
        amountPerTick: 10n,
        baseAmount: 0n,
        maxTicks: 6,
      })
    // Node B refuses node A's channel outright: two parallel leases can no longer share one counter.
    const chainB = new HashChain('keccak256', 6)
    await rejectsWithCode(
      b.acceptCommitment(await sign(channelA, 'b on a', chainB), { channelId: channelA }),
      'CHANNEL_MISMATCH',
    )
    assert.equal(b.channelTotal(channelA), 0n)
    // With a channel each, both nodes' ticks settle: X + Y.
    const channelB = await open(10_000n, nodeB)
    const chainA = new HashChain('keccak256', 6)
    const ca = await sign(channelA, 'a', chainA)
    const cb = await sign(channelB, 'b', chainB)
    await a.acceptCommitment(ca, { channelId: channelA })
    await b.acceptCommitment(cb, { channelId: channelB })
    for (let k = 1; k <= 6; k++) {
      await a.acceptTick(ca.commitment.leaseId, chainA.preimage(k))
      await b.acceptTick(cb.commitment.leaseId, chainB.preimage(k))
    }
    const x = await settleProof(f.provider.wallet, { contract: f.chain.contract, proof: a.bestProof(channelA)! })
    const y = await settleProof(f.provider.wallet, { contract: f.chain.contract, proof: b.bestProof(channelB)! })
    assert.equal(x.paid + y.paid, 120n)
  })

  it('a commitment the provider would pay dearly to settle is refused: sha256, or more ticks than the cap', async () => {
    const channelId = await open()
    const r = await receiver()
    const base = {
      chainId: f.chain.chainId,
      contract: f.chain.contract,
      channelId,
      amountPerTick: 1n,
      baseAmount: 0n,
    }
    const sha = new HashChain('sha256', 10)
    await rejectsWithCode(
      r.acceptCommitment(
        await signTickCommitment(f.renter.account, {
          ...base,
          leaseId: keccak256(toBytes('sha')),
          tip: sha.tip,
          hashFunction: 'sha256',
          maxTicks: 10,
        }),
        { channelId },
      ),
      'MALFORMED',
    )
    // 124,000 ticks would need more gas than a block holds to settle; the default cap is 3,600 (~402,000 gas).
    const long = new HashChain('keccak256', 3_601)
    await rejectsWithCode(
      r.acceptCommitment(
        await signTickCommitment(f.renter.account, {
          ...base,
          leaseId: keccak256(toBytes('long')),
          tip: long.tip,
          hashFunction: 'keccak256',
          maxTicks: 3_601,
        }),
        { channelId },
      ),
      'MALFORMED',
    )
  })

  it('refuses to serve on a contract that is not the committed PaymentChannel, or whose window is too short', async () => {
    await assert.rejects(
      verifyPaymentContract(f.publicClient, { contract: f.chain.token }),
      (err: Error) => err instanceof UnknownContractError && /code differs/.test(err.message),
    )
    await assert.rejects(
      verifyPaymentContract(f.publicClient, { contract: '0x000000000000000000000000000000000000dEaD' }),
      UnknownContractError,
    )
    await assert.rejects(
      verifyPaymentContract(f.publicClient, { contract: f.chain.contract, minChallengePeriod: 86_400n }),
      ChallengePeriodTooShortError,
    )
    const ok = await verifyPaymentContract(f.publicClient, { contract: f.chain.contract })
    assert.equal(ok.challengePeriod, BigInt(f.chain.challengePeriod))
    // The provider's payment side is built on the same check: it never opens a store for a bad contract.
    await assert.rejects(
      openProviderPayments({
        chain: { ...f.chain, contract: f.chain.token },
        account: f.provider.account,
        providerNode: f.providerNode,
        storeDir: join(dir, 'never'),
      }),
      UnknownContractError,
    )
  })

  it('payment state never outlives its chain: a restarted chain starts from nothing and says so', async () => {
    const chainA = await startDevChain()
    const storeDir = join(dir, 'reset-renter')
    const providerDir = join(dir, 'reset-provider')
    const renter = privateKeyToAccount(chainA.accounts[1]!.privateKey)
    const provider = privateKeyToAccount(chainA.accounts[2]!.privateKey)
    let firstChannel: Hex
    try {
      const wallet = createPayWalletClient(chainA, renter)
      ;({ channelId: firstChannel } = await openChannel(wallet, {
        contract: chainA.contract,
        provider: provider.address,
        providerNode: f.providerNode,
        amount: 10_000n,
      }))
      const renterSide = await openRenterPayments({ chain: chainA, account: renter, storeDir })
      const providerSide = await openProviderPayments({
        chain: chainA,
        account: provider,
        providerNode: f.providerNode,
        storeDir: providerDir,
      })
      assert.deepEqual(renterSide.earlier, [])
      const commitment = await renterSide.sender.startLease({
        channelId: firstChannel,
        amountPerTick: 10n,
        maxTicks: 10,
      })
      await providerSide.receiver.acceptCommitment(commitment, { channelId: firstChannel })
      for (let k = 0; k < 5; k++) {
        const { tick } = await renterSide.sender.nextTick(commitment.commitment.leaseId)
        await providerSide.receiver.acceptTick(tick.leaseId, tick.preimage)
      }
      assert.equal(renterSide.sender.channelTotal(firstChannel), 50n)
      await renterSide.stop()
      await providerSide.stop()
    } finally {
      await chainA.stop()
    }

    // The dev chain again: a fresh deployer puts the contract at a new address, so nothing can be confused.
    const chainB = await startDevChain()
    try {
      assert.notEqual(chainB.contract, chainA.contract)
      const { channelId } = await openChannel(createPayWalletClient(chainB, renter), {
        contract: chainB.contract,
        provider: provider.address,
        providerNode: f.providerNode,
        amount: 10_000n,
      })
      const renterSide = await openRenterPayments({ chain: chainB, account: renter, storeDir })
      const providerSide = await openProviderPayments({
        chain: chainB,
        account: provider,
        providerNode: f.providerNode,
        storeDir: providerDir,
      })
      try {
        // Nothing carried over: the renter's next lease starts at 0, the provider holds no proof from before.
        assert.equal(renterSide.sender.channelTotal(channelId), 0n)
        assert.equal(providerSide.receiver.channelTotal(channelId), 0n)
        assert.equal(renterSide.earlier.length, 1)
        assert.match(renterSide.earlier[0]!.message, /no longer exists on chain 31337 \(was the chain reset\?\)/)
        assert.equal(providerSide.earlier.length, 1)
        // A 1-tick lease on the new chain settles exactly one tick.
        const commitment = await renterSide.sender.startLease({ channelId, amountPerTick: 10n, maxTicks: 10 })
        assert.equal(commitment.commitment.baseAmount, 0n)
        await providerSide.receiver.acceptCommitment(commitment, { channelId })
        const { tick } = await renterSide.sender.nextTick(commitment.commitment.leaseId)
        await providerSide.receiver.acceptTick(tick.leaseId, tick.preimage)
        const settled = await settleProof(createPayWalletClient(chainB, provider), {
          contract: chainB.contract,
          proof: providerSide.receiver.bestProof(channelId)!,
        })
        assert.equal(settled.paid, 10n)
        assert.equal((await readdir(storeDir)).length, 2, 'both chains keep their own store')
      } finally {
        await renterSide.stop()
        await providerSide.stop()
      }
      // The same contract address with another genesis is a reset too (e.g. a chain redeployed identically).
      const [current] = (await readdir(storeDir)).filter((d) => d.includes(chainB.contract.slice(2, 18).toLowerCase()))
      const identity = JSON.parse(await readFile(join(storeDir, current!, 'identity.json'), 'utf8'))
      const twin = join(storeDir, `${identity.chainId}-${chainB.contract.slice(2, 18).toLowerCase()}-${'0'.repeat(16)}`)
      await mkdir(twin)
      await writeFile(join(twin, 'identity.json'), JSON.stringify({ ...identity, genesisHash: `0x${'0'.repeat(64)}` }))
      const again = await openRenterPayments({ chain: chainB, account: renter, storeDir })
      try {
        assert.ok(again.earlier.some((e) => e.path === twin && /was reset/.test(e.message)))
      } finally {
        await again.stop()
      }
    } finally {
      await chainB.stop()
    }
  })
})
