import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { bytesToHex, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { requestClose, withdrawChannel } from '../../src/pay/actions/close-channel.js'
import { getChannel } from '../../src/pay/actions/get-channel.js'
import { openChannel } from '../../src/pay/actions/open-channel.js'
import { ChannelStateCache } from '../../src/pay/channel-state-cache.js'
import { createPayWalletClient, type PayWalletClient } from '../../src/pay/clients.js'
import { encodeSignedTickCommitment, encodeVoucher } from '../../src/pay/messages.js'
import { createPaymentReceiver, type PaymentReceiver } from '../../src/pay/payment-receiver.js'
import { createPaymentSender, type PaymentSender } from '../../src/pay/payment-sender.js'
import { createPaymentStore, type PaymentStore } from '../../src/pay/payment-store.js'
import { createSettler, type SettlerInit } from '../../src/pay/settler.js'
import { freeGasWallet, type PayFixture, rejectsWithCode, setupPayFixture, zeroBaseFee } from './helpers.js'

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'pay', 'provider-ack.js')

describe('settler and crash safety (anvil)', () => {
  let f: PayFixture
  let dir: string
  let renterSender: PaymentSender
  // These tests are about durability and policy, not economics: the provider's gas costs nothing here, so every
  // settlement is worth it (settler-economics.test.ts weighs gas at real fees).
  let freeGas: PayWalletClient
  const open: PaymentStore[] = []

  before(async () => {
    f = await setupPayFixture()
    await zeroBaseFee(f)
    freeGas = freeGasWallet(f, f.provider)
    dir = await mkdtemp(join(tmpdir(), 'parkbench-settler-'))
    const s = await createPaymentStore({ path: join(dir, 'renter') })
    open.push(s)
    renterSender = createPaymentSender(
      { store: s, account: f.renter.account },
      { chainId: f.chain.chainId, contract: f.chain.contract },
    )
    await renterSender.start()
  })
  after(async () => {
    for (const s of open) await s.stop()
    await f?.chain.stop()
    await rm(dir, { recursive: true, force: true })
  })

  async function provider(name: string) {
    const store = await createPaymentStore({ path: join(dir, name) })
    open.push(store)
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
    const settler = (init: Partial<SettlerInit> = {}, wallet = freeGas) =>
      createSettler(
        { receiver, store, channels, wallet },
        { contract: f.chain.contract, intervalMs: 50, fromBlock: BigInt(f.chain.deployBlock), ...init },
      )
    return { store, channels, receiver, settler }
  }

  async function lease(receiver: PaymentReceiver | undefined, channelId: Hex, ticks: number, price = 10n) {
    const commitment = await renterSender.startLease({ channelId, amountPerTick: price, maxTicks: 1000 })
    const preimages: Hex[] = []
    await receiver?.acceptCommitment(commitment, { channelId })
    for (let i = 0; i < ticks; i++) {
      const { tick } = await renterSender.nextTick(commitment.commitment.leaseId)
      preimages.push(bytesToHex(tick.preimage))
      await receiver?.acceptTick(tick.leaseId, tick.preimage)
    }
    return { commitment, preimages }
  }

  async function newChannel(amount = 1_000_000n): Promise<Hex> {
    const { channelId } = await openChannel(f.renter.wallet, {
      contract: f.chain.contract,
      provider: f.provider.account.address,
      providerNode: f.providerNode,
      amount,
    })
    return channelId
  }

  it('kill -9 after acknowledging: a fresh process settles the acknowledged payment on-chain', async () => {
    const channelId = await newChannel()
    const { commitment, preimages } = await lease(undefined, channelId, 25, 4n)
    const storePath = join(dir, 'killed')
    const job = join(dir, 'job.json')
    await writeFile(
      job,
      JSON.stringify({
        storePath,
        rpcUrl: f.chain.rpcUrl,
        chainId: f.chain.chainId,
        contract: f.chain.contract,
        provider: f.provider.account.address,
        providerNode: f.providerNode,
        commitment: bytesToHex(encodeSignedTickCommitment(commitment)),
        preimages,
      }),
    )
    const child = spawn(process.execPath, [FIXTURE, job], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString()
    })
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once('exit', (_code, signal) => resolve(signal)),
    )
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString()
        if (out.includes('\n')) resolve()
      })
      child.once('exit', () => reject(new Error(`fixture exited early: ${out} ${err}`)))
    })
    assert.equal(out.trim(), 'acked 100')
    child.kill('SIGKILL')
    assert.equal(await exited, 'SIGKILL')

    // A fresh store on the same files: the acknowledged proof is there, and the settler pays it.
    const p = await provider('killed')
    assert.equal(p.receiver.bestProof(channelId)?.total, 100n)
    const settler = p.settler()
    await settler.start()
    const [result] = await settler.settle(channelId)
    await settler.stop()
    assert.equal(result?.paid, 100n)
    assert.equal((await getChannel(f.publicClient, { contract: f.chain.contract, channelId })).settled, 100n)
  })

  it('answers a close request inside the challenge window; the renter gets back the rest', async () => {
    const p = await provider('closing')
    const channelId = await newChannel(5_000n)
    await lease(p.receiver, channelId, 30, 10n)
    const settled = new Promise<string>((resolve) => {
      const settler = p.settler({
        onEvent: (e) => {
          if (e.type !== 'settle:settled') return
          const r = e.result
          void settler.stop().then(() => resolve(`${r.reason}:${r.paid}`))
        },
      })
      void settler.start()
    })
    await requestClose(f.renter.wallet, { contract: f.chain.contract, channelId })
    assert.equal(await settled, 'closing:300')
    await f.chain.increaseTime(BigInt(f.chain.challengePeriod) + 1n)
    const { refund } = await withdrawChannel(f.renter.wallet, { contract: f.chain.contract, channelId })
    assert.equal(refund, 4_700n)
  })

  it('settles by threshold, and only above it', async () => {
    const p = await provider('threshold')
    const channelId = await newChannel()
    const settler = p.settler({ threshold: 500n })
    const { commitment } = await lease(p.receiver, channelId, 40, 10n)
    assert.deepEqual(await settler.check(), [])
    for (let i = 0; i < 10; i++) {
      const { tick } = await renterSender.nextTick(commitment.commitment.leaseId)
      await p.receiver.acceptTick(tick.leaseId, tick.preimage)
    }
    const results = await settler.check()
    assert.equal(results.length, 1)
    assert.equal(results[0]?.reason, 'threshold')
    assert.equal(results[0]?.paid, 500n)
    assert.deepEqual(await settler.check(), [])
  })

  it('a channel past its window does not keep the others from being settled', async () => {
    const p = await provider('hopeless')
    const late = await newChannel(5_000n)
    const fine = await newChannel(5_000n)
    await lease(p.receiver, late, 5, 10n)
    await lease(p.receiver, fine, 5, 100n)
    await requestClose(f.renter.wallet, { contract: f.chain.contract, channelId: late })
    await f.chain.increaseTime(BigInt(f.chain.challengePeriod) + 1n)
    const settler = p.settler({ threshold: 100n, fromBlock: await f.publicClient.getBlockNumber() })
    const results = await settler.check()
    assert.deepEqual(
      results.map((r) => [r.channelId, r.paid]),
      [[fine.toLowerCase(), 500n]],
    )
    assert.deepEqual(await settler.settle(), [])
    await rejectsWithCode(settler.settle(late), 'CHALLENGE_WINDOW')
  })

  it('settles the cheaper voucher when the ticks above it gain less than minTickGain', async () => {
    const p = await provider('min-gain')
    const channelId = await newChannel()
    const { commitment } = await lease(p.receiver, channelId, 5, 10n)
    await p.receiver.acceptVoucher(await renterSender.signVoucher(channelId), { channelId })
    for (let i = 0; i < 3; i++) {
      const { tick } = await renterSender.nextTick(commitment.commitment.leaseId)
      await p.receiver.acceptTick(tick.leaseId, tick.preimage)
    }
    assert.equal(p.receiver.bestProof(channelId)?.kind, 'ticks')
    const [cheap] = await p.settler({ minTickGain: 31n }).settle(channelId)
    assert.equal(cheap?.paid, 50n)
    const [rest] = await p.settler().settle(channelId)
    assert.equal(rest?.paid, 30n)
    assert.ok(rest!.gasUsed > cheap!.gasUsed)
  })

  it('a settlement recorded before a failed send is resumed at the next start', async () => {
    const p = await provider('resume')
    const channelId = await newChannel()
    await lease(p.receiver, channelId, 7, 3n)
    // A wallet whose RPC is down: the settlement is recorded, then the send fails.
    const dead = createPayWalletClient(
      { rpcUrl: 'http://127.0.0.1:9', chainId: f.chain.chainId },
      privateKeyToAccount(f.chain.accounts[2]!.privateKey),
    )
    const broken = p.settler({}, dead)
    await rejectsWithCode(broken.settle(channelId), 'CHAIN_ERROR')
    const pending = await broken.pending()
    assert.equal(pending.length, 1)
    assert.equal(pending[0]?.total, 21n)
    const settler = p.settler()
    await settler.start()
    await settler.stop()
    assert.deepEqual(await settler.pending(), [])
    assert.equal((await getChannel(f.publicClient, { contract: f.chain.contract, channelId })).settled, 21n)
  })

  it('the renter side remembers what it paid across a restart', async () => {
    const channelId = await newChannel()
    await lease(undefined, channelId, 5, 2n)
    const store = open[0]!
    const again = createPaymentSender(
      { store, account: f.renter.account },
      { chainId: f.chain.chainId, contract: f.chain.contract },
    )
    await again.start()
    assert.equal(again.channelTotal(channelId), 10n)
    const v = await again.signVoucher(channelId)
    assert.equal(v.total, 10n)
    assert.ok(encodeVoucher(v).length < 200)
  })
})
