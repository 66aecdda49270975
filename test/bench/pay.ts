import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bytesToHex, type Hex, keccak256, toBytes } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { openChannel } from '../../src/pay/actions/open-channel.js'
import { settleTicks, settleVoucher } from '../../src/pay/actions/settle-channel.js'
import { topUpChannel } from '../../src/pay/actions/top-up-channel.js'
import { ChannelStateCache } from '../../src/pay/channel-state-cache.js'
import { createPayPublicClient, createPayWalletClient } from '../../src/pay/clients.js'
import { startDevChain } from '../../src/pay/dev-chain.js'
import { recoverVoucherSigner, signTickCommitment, signVoucher } from '../../src/pay/eip712.js'
import { HashChain, verifyTickPreimage } from '../../src/pay/hash-chain.js'
import { createPaymentReceiver } from '../../src/pay/payment-receiver.js'
import { createPaymentStore } from '../../src/pay/payment-store.js'
import type { HashFunctionName } from '../../src/pay/types.js'
import { printTable, round } from './stats.js'

const HASHES: HashFunctionName[] = ['keccak256', 'sha256']

/** Operations per second of `fn` over at least `ms` milliseconds. */
async function rate(fn: (i: number) => unknown | Promise<unknown>, ms: number, batch = 1000): Promise<number> {
  for (let i = 0; i < Math.min(batch, 200); i++) await fn(i) // warm up
  let n = 0
  const start = process.hrtime.bigint()
  let elapsed = 0
  while (elapsed < ms) {
    for (let i = 0; i < batch; i++) await fn(n + i)
    n += batch
    elapsed = Number(process.hrtime.bigint() - start) / 1e6
  }
  return (n / elapsed) * 1000
}

function syncRate(fn: (i: number) => unknown, ms: number, batch = 10_000): number {
  for (let i = 0; i < 1000; i++) fn(i)
  let n = 0
  const start = process.hrtime.bigint()
  let elapsed = 0
  while (elapsed < ms) {
    for (let i = 0; i < batch; i++) fn(n + i)
    n += batch
    elapsed = Number(process.hrtime.bigint() - start) / 1e6
  }
  return (n / elapsed) * 1000
}

export async function run(): Promise<object> {
  // 1. Off-chain hot path: one tick check (one hash + compare) vs one EIP-712 voucher recovery, one core.
  const tickRates: Record<string, number> = {}
  for (const h of HASHES) {
    const chain = new HashChain(h, 100_000)
    const n = chain.length
    tickRates[h] = syncRate((i) => {
      const k = (i % (n - 1)) + 1
      if (!verifyTickPreimage(h, chain.preimage(k), chain.element(n - k + 1))) throw new Error('bad tick')
    }, 1500)
  }
  const renter = privateKeyToAccount(`0x${'42'.repeat(32)}`)
  const vouchers = await Promise.all(
    Array.from({ length: 64 }, (_, i) =>
      signVoucher(renter, {
        chainId: 31337,
        contract: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
        channelId: `0x${'77'.repeat(32)}`,
        total: BigInt(i + 1) * 1000n,
      }),
    ),
  )
  const voucherRate = await rate(
    async (i) => {
      if ((await recoverVoucherSigner(vouchers[i % vouchers.length]!)) !== renter.address) throw new Error('bad')
    },
    1500,
    50,
  )
  const signRate = await rate(
    (i) =>
      signVoucher(renter, {
        chainId: 31337,
        contract: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
        channelId: `0x${'77'.repeat(32)}`,
        total: BigInt(i),
      }),
    1000,
    50,
  )
  const cpu = [
    ...HASHES.map((h) => ({
      check: `tick (${h})`,
      perSecond: Math.round(tickRates[h]!),
      microseconds: round(1e6 / tickRates[h]!, 2),
      vsVoucher: `${Math.round(tickRates[h]! / voucherRate)}x`,
    })),
    {
      check: 'EIP-712 voucher recover (viem)',
      perSecond: Math.round(voucherRate),
      microseconds: round(1e6 / voucherRate, 1),
      vsVoucher: '1x',
    },
    {
      check: 'EIP-712 voucher sign (viem)',
      perSecond: Math.round(signRate),
      microseconds: round(1e6 / signRate, 1),
      vsVoucher: '-',
    },
  ]
  printTable('Off-chain checks, one core', cpu)

  // 2. Gas on a real anvil.
  const dev = await startDevChain()
  const dir = await mkdtemp(join(tmpdir(), 'parkbench-bench-pay-'))
  try {
    const r = privateKeyToAccount(dev.accounts[1]!.privateKey)
    const p = privateKeyToAccount(dev.accounts[2]!.privateKey)
    const renterWallet = createPayWalletClient(dev, r)
    const providerWallet = createPayWalletClient(dev, p)
    const contract = dev.contract
    const providerNode = keccak256(toBytes('bench provider node'))
    const open = (token?: Hex) =>
      openChannel(renterWallet, { contract, provider: p.address, providerNode, amount: 10n ** 18n, token })
    const gas: Array<Record<string, string | number>> = []
    const gasJson: Record<string, number> = {}
    const record = (name: string, value: bigint): void => {
      gasJson[name] = Number(value)
      gas.push({ operation: name, gas: Number(value) })
    }
    const openEth = await open()
    record('open (ETH)', openEth.gasUsed)
    await open(dev.token) // the first ERC-20 open also pays the approve; measure a second one
    const openToken = await open(dev.token)
    record('open (ERC-20, after approve)', openToken.gasUsed)
    record(
      'top up (ETH)',
      (await topUpChannel(renterWallet, { contract, channelId: openEth.channelId, amount: 1n })).gasUsed,
    )
    const v = (channelId: Hex, total: bigint) => signVoucher(r, { chainId: dev.chainId, contract, channelId, total })
    record(
      'settle by voucher (first, ETH)',
      (await settleVoucher(providerWallet, { contract, voucher: await v(openEth.channelId, 1000n) })).gasUsed,
    )
    record(
      'settle by voucher (again, ETH)',
      (await settleVoucher(providerWallet, { contract, voucher: await v(openEth.channelId, 2000n) })).gasUsed,
    )
    record(
      'settle by voucher (first, ERC-20)',
      (await settleVoucher(providerWallet, { contract, voucher: await v(openToken.channelId, 1000n) })).gasUsed,
    )
    const perHash: Record<string, number> = {}
    for (const h of HASHES) {
      const byTicks: Record<number, bigint> = {}
      for (const ticks of [60, 600, 3600]) {
        const { channelId } = await open()
        const chain = new HashChain(h, ticks)
        const commitment = await signTickCommitment(r, {
          chainId: dev.chainId,
          contract,
          channelId,
          leaseId: bytesToHex(new Uint8Array(32).fill(ticks % 256)),
          tip: chain.tip,
          hashFunction: h,
          amountPerTick: 1000n,
          baseAmount: 0n,
          maxTicks: ticks,
        })
        const settled = await settleTicks(providerWallet, {
          contract,
          commitment,
          ticks,
          preimage: bytesToHex(chain.preimage(ticks)),
        })
        byTicks[ticks] = settled.gasUsed
        record(`settle by ${ticks} ticks (${h}, first)`, settled.gasUsed)
      }
      perHash[h] = round(Number(byTicks[3600]! - byTicks[60]!) / 3540, 1)
    }
    // The re-anchoring variant: the same 3600-tick lease, re-anchored every 60 ticks, proves at most 60 hashes.
    {
      const { channelId } = await open()
      const chain = new HashChain('keccak256', 3600)
      const anchored = await signTickCommitment(r, {
        chainId: dev.chainId,
        contract,
        channelId,
        leaseId: bytesToHex(new Uint8Array(32).fill(99)),
        tip: bytesToHex(chain.element(60)),
        hashFunction: 'keccak256',
        amountPerTick: 1000n,
        baseAmount: 3540n * 1000n,
        maxTicks: 60,
      })
      const settled = await settleTicks(providerWallet, {
        contract,
        commitment: anchored,
        ticks: 60,
        preimage: bytesToHex(chain.preimage(3600)),
      })
      if (settled.total !== 3600n * 1000n) throw new Error('re-anchored proof paid the wrong total')
      record('settle 3600-tick lease re-anchored every 60 (worst case, keccak256)', settled.gasUsed)
    }
    printTable('Gas (anvil, optimizer 200 runs)', gas)

    // 3. Durable acknowledgements: many leases ticking at once share group-committed, fsynced batches.
    const store = await createPaymentStore({ path: join(dir, 'store') })
    const publicClient = createPayPublicClient(dev)
    const channels = new ChannelStateCache({ client: publicClient }, { contract, ttlMs: 600_000 })
    const receiver = createPaymentReceiver(
      { store, channels },
      { chainId: dev.chainId, contract, provider: p.address, providerNode },
    )
    await receiver.start()
    const LEASES = 200
    const leases: Array<{ leaseId: Hex; chain: HashChain; k: number }> = []
    for (let i = 0; i < LEASES; i++) {
      const { channelId } = await open()
      const chain = new HashChain('keccak256', 1000)
      const leaseId = bytesToHex(new Uint8Array(32).fill(0).map((_, j) => (j < 4 ? (i >> (8 * j)) & 255 : 7)))
      const c = await signTickCommitment(r, {
        chainId: dev.chainId,
        contract,
        channelId,
        leaseId,
        tip: chain.tip,
        hashFunction: 'keccak256',
        amountPerTick: 1n,
        baseAmount: 0n,
        maxTicks: 1000,
      })
      await receiver.acceptCommitment(c, { channelId })
      leases.push({ leaseId, chain, k: 0 })
    }
    const tick = (l: (typeof leases)[number]) => receiver.acceptTick(l.leaseId, l.chain.preimage(++l.k))
    // One lease at a time: every acknowledgement waits for its own fsync.
    const batchesBefore = store.batches
    let start = performance.now()
    for (let i = 0; i < 200; i++) await tick(leases[0]!)
    const sequential = (200 / (performance.now() - start)) * 1000
    const sequentialBatches = store.batches - batchesBefore
    // All leases at once, for several rounds.
    const ROUNDS = 20
    const b0 = store.batches
    start = performance.now()
    for (let round = 0; round < ROUNDS; round++) await Promise.all(leases.slice(1).map(tick))
    const concurrent = (((LEASES - 1) * ROUNDS) / (performance.now() - start)) * 1000
    const concurrentBatches = store.batches - b0
    await receiver.stop()
    await store.stop()
    const storeRows = [
      {
        mode: 'one lease, ack per fsync',
        ackedPerSecond: Math.round(sequential),
        acks: 200,
        fsyncs: sequentialBatches,
      },
      {
        mode: `${LEASES - 1} leases ticking together`,
        ackedPerSecond: Math.round(concurrent),
        acks: (LEASES - 1) * ROUNDS,
        fsyncs: concurrentBatches,
      },
    ]
    printTable('Durable acknowledged payments (LevelDB, fsync per batch)', storeRows)

    const choice =
      `keccak256: its on-chain step costs ${perHash.keccak256} gas vs ${perHash.sha256} for sha256 ` +
      `(${round(perHash.sha256! / perHash.keccak256!, 1)}x), while off-chain both are far past the goal ` +
      `(${Math.round(tickRates.keccak256! / voucherRate)}x and ${Math.round(tickRates.sha256! / voucherRate)}x a voucher check).`
    process.stdout.write(`\nHash choice: ${choice}\n`)
    return {
      offChain: {
        tickChecksPerSecond: Object.fromEntries(HASHES.map((h) => [h, Math.round(tickRates[h]!)])),
        voucherRecoversPerSecond: Math.round(voucherRate),
        voucherSignsPerSecond: Math.round(signRate),
        tickSpeedupOverVoucher: Object.fromEntries(HASHES.map((h) => [h, Math.round(tickRates[h]! / voucherRate)])),
      },
      gas: gasJson,
      gasPerChainStep: perHash,
      durableStore: {
        sequentialAcksPerSecond: Math.round(sequential),
        sequentialFsyncs: sequentialBatches,
        concurrentLeases: LEASES - 1,
        concurrentAcksPerSecond: Math.round(concurrent),
        concurrentAcks: (LEASES - 1) * ROUNDS,
        concurrentFsyncs: concurrentBatches,
      },
      chosenHash: 'keccak256',
      why: choice,
    }
  } finally {
    await dev.stop()
    await rm(dir, { recursive: true, force: true })
  }
}
