import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { type Address, bytesToHex, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createNode, type ParkbenchNode } from '../../src/net/create-node.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { addModel, identityModel, matmulModel } from '../compute/onnx-builder.js'
import { type LongRunning, runCli, startCli, writeChainFile } from '../helpers/cli.js'
import { exchange } from './exchange.js'
import { HonestClient } from './honest-client.js'
import { PaidLease } from './paid-lease.js'
import { Message } from './pb/kad-dht.js'
import { KAD_PROTOCOL, ReadmeRenter } from './readme-renter.js'
import { frame } from './wire.js'

/** The provider's price in wei per second: a whole number of wei per 1 s tick. */
export const PRICE = 1_000n

/** Threads the daemon sells: room for the fuzz client's own lease, a lease case and the honest renter at once. */
export const THREADS = 4

/** Every type the identity model passes through (README "Tensors": what onnxruntime-node can feed and fetch). */
export const IDENTITY_TYPES = [
  'float32',
  'uint8',
  'int8',
  'uint16',
  'int16',
  'int32',
  'int64',
  'string',
  'bool',
  'float16',
  'float64',
  'uint32',
  'uint64',
] as const

export interface FuzzModel {
  bytes: Uint8Array
  sha256: string
  hash: Uint8Array
}

function model(bytes: Uint8Array): FuzzModel {
  const digest = createHash('sha256').update(bytes).digest()
  return { bytes, sha256: digest.toString('hex'), hash: Uint8Array.from(digest) }
}

/** The models of the run: `add` is added with `parkbench model add`; the others the fuzz client pushes. */
export const MODELS = {
  add: model(addModel()),
  identity: model(identityModel([...IDENTITY_TYPES])),
  /** 24 MatMuls on float32 [n, n]: slow enough with n = 96 to be cancelled or to miss a 1 ms deadline. */
  slow: model(matmulModel(24)),
}

/** What a case needs to reach the daemon and judge it. */
export interface FuzzWorld {
  chain: DevChain
  dataDir: string
  controlSocket: string
  provider: PeerId
  providerAddress: string
  payoutAddress: Address
  /** The fuzz client's node, which holds a paid lease. */
  node: ParkbenchNode
  /** A node with no lease, no channel: a stranger. */
  stranger: ParkbenchNode
  /** A node for the cases that wait out a deadline in the background. */
  slow: ParkbenchNode
  renter: ReadmeRenter
  /** The fuzz client's own lease, kept paid (infer and model cases need it). */
  paid: PaidLease
  /** Channels for lease cases (one lease at a time each), a 1-tick channel, one that pays someone else. */
  leaseChannels: Hex[]
  smallChannel: Hex
  foreignChannel: Hex
  honest: HonestClient
  daemonPid(): number
  daemonAlive(): boolean
  /** The last few KiB the daemon wrote to stderr (what it said as it died). */
  daemonStderr(): string
  /** How many times the daemon has been restarted. */
  restarts: number
  /** The models the provider holds (sha256 hex), as far as the client knows: it pushed them. */
  heldModels: Set<string>
  /** Keep the fuzz client's lease running (a new one when the old one ended or nears its last tick). */
  ensurePaid(): Promise<void>
  /** Restart a daemon that died: same data dir (so same peer id) and same address, and a new paid lease. */
  restart(): Promise<void>
  stop(): Promise<void>
}

/**
 * A free TCP port on 127.0.0.1 below Linux's ephemeral range (32768-60999), so that no outgoing connection is given
 * it while a crashed daemon is being restarted on it.
 */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 10_000)
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer()
      server.once('error', () => resolve(false))
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
    })
    if (free) return port
  }
  throw new Error('no free port')
}

/**
 * Wait (at most 10 s) until the daemon lists itself as a provider of its runtime key on the DHT, as it does once
 * started: a restarted daemon re-advertises in the background, and kad cases must not meet it half-way.
 */
async function providing(node: ParkbenchNode, addrs: Multiaddr[], self: Uint8Array): Promise<void> {
  const key = CID.createV1(0x55, await sha256.digest(new TextEncoder().encode('/parkbench/runtime/onnx/cpu/v1')))
  const request = frame(
    Message.encode({
      type: 'GET_PROVIDERS' as Message['type'],
      key: Uint8Array.from(key.multihash.bytes),
      closer: [],
      providers: [],
    }),
  )
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    const result = await exchange(node, addrs, KAD_PROTOCOL, request, {
      closeWrite: true,
      deadlineMs: 2_000,
      maxFrames: 1,
    })
    try {
      const reply = result.frames[0] === undefined ? undefined : Message.decode(result.frames[0])
      if (reply?.providers.some((p) => Buffer.from(p.id ?? []).equals(Buffer.from(self)))) return
    } catch {}
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** The daemon's resident set size, from /proc/<pid>/status (VmRSS), in bytes. */
export async function rssBytes(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const kb = status.match(/VmRSS:\s+(\d+) kB/)?.[1]
    return kb === undefined ? undefined : Number(kb) * 1024
  } catch {
    return undefined
  }
}

/**
 * Everything on loopback: a dev chain (anvil), a selling `parkbench start` in its own process holding the add model,
 * the fuzz client's nodes, channels and lease, and the honest renter in a third process.
 */
export async function startFuzzWorld(): Promise<FuzzWorld> {
  const chain = await startDevChain()
  const dir = await mkdtemp(join(tmpdir(), 'pb-fuzz-'))
  const chainFile = await writeChainFile(chain, dir)
  const addFile = join(dir, 'add.onnx')
  await writeFile(addFile, MODELS.add.bytes)
  const dataDir = join(dir, 'provider')
  const providerKey = chain.accounts[2]!.privateKey
  const added = await runCli(['model', 'add', addFile, '--data-dir', dataDir])
  if (added.code !== 0) throw new Error(`model add failed: ${added.stderr}`)
  // A restarted daemon listens where the first one did: same peer id (same data dir), same address.
  const startDaemon = async (listen: string) => {
    const provider = startCli([
      'start',
      '--data-dir',
      dataDir,
      '--listen',
      listen,
      '--price',
      String(PRICE),
      '--chain',
      chainFile,
      '--private-key',
      providerKey,
      '--threads',
      String(THREADS),
      // The owner console (and libp2p's metrics) on, as `parkbench start` runs it, on a free port.
      '--console-port',
      '0',
    ])
    const address = (await provider.waitFor(/listening on (\S+)/))[1]!
    const peerId = provider.output().match(/parkbench node (\S+)/)![1]!
    return { provider, address, peerId }
  }
  let daemon: { provider: LongRunning; address: string; peerId: string } = await startDaemon(
    `/ip4/127.0.0.1/tcp/${await freePort()}`,
  )
  let stderr = ''
  const keepStderr = (): void => {
    daemon.provider.child.stderr!.on('data', (d) => {
      stderr = (stderr + String(d)).slice(-4096)
    })
  }
  keepStderr()
  const listen = ['/ip4/127.0.0.1/tcp/0']
  const [node, stranger, slow] = await Promise.all([
    createNode({ listen }),
    createNode({ listen }),
    createNode({ listen }),
  ])
  const chainInfo = { rpcUrl: chain.rpcUrl, chainId: chain.chainId, contract: chain.contract }
  const renter = new ReadmeRenter({
    node,
    provider: peerIdFromString(daemon.peerId),
    addrs: [multiaddr(daemon.address)],
    chain: chainInfo,
    account: privateKeyToAccount(chain.accounts[3]!.privateKey),
  })
  const offer = await renter.fetchOffer()
  const payoutAddress = bytesToHex(offer.payoutAddress) as Address
  const deposit = 10n ** 18n
  const paidChannel = await renter.openChannel(deposit, { provider: payoutAddress })
  const leaseChannels: Hex[] = []
  for (let i = 0; i < 3; i++) leaseChannels.push(await renter.openChannel(deposit, { provider: payoutAddress }))
  const smallChannel = await renter.openChannel(PRICE, { provider: payoutAddress })
  const foreignChannel = await renter.openChannel(deposit, { provider: chain.accounts[5]!.address })

  let paid: PaidLease
  const startPaid = async (): Promise<PaidLease> => {
    const lease = await renter.startLease(paidChannel, PRICE, { seconds: 600 })
    const running = new PaidLease(renter, lease)
    if (!(await running.paidUp())) throw new Error(`the fuzz client's lease is not paid up: ${running.endedWith}`)
    return running
  }
  paid = await startPaid()
  const honestDir = join(dir, 'honest')
  const startHonest = () =>
    HonestClient.start({
      dataDir: honestDir,
      chain: chainInfo,
      privateKey: chain.accounts[1]!.privateKey,
      provider: daemon.address,
      model: addFile,
      price: PRICE,
    })
  const honest = await startHonest()

  let restarting: Promise<void> | undefined
  const restartDaemon = async (): Promise<void> => {
    if (world.daemonAlive()) return
    await daemon.provider.stop('SIGKILL').catch(() => {})
    world.paid.lease.raw.abort()
    const listen = daemon.address.replace(/\/p2p\/.*$/, '')
    for (let attempt = 0; ; attempt++) {
      try {
        daemon = await startDaemon(listen)
        break
      } catch (err) {
        // The port may still be held for a moment by the process that died.
        if (attempt >= 5) throw err
        await new Promise((r) => setTimeout(r, 500))
      }
    }
    stderr = ''
    keepStderr()
    world.restarts++
    world.paid = paid = await startPaid()
    await providing(node, renter.addrs, world.provider.toMultihash().bytes)
  }

  const world: FuzzWorld = {
    chain,
    dataDir,
    controlSocket: join(dataDir, 'control.sock'),
    provider: peerIdFromString(daemon.peerId),
    providerAddress: daemon.address,
    payoutAddress,
    node,
    stranger,
    slow,
    renter,
    paid,
    leaseChannels,
    smallChannel,
    foreignChannel,
    honest,
    daemonPid: () => daemon.provider.child.pid!,
    daemonAlive: () => daemon.provider.child.exitCode == null && daemon.provider.child.signalCode == null,
    daemonStderr: () => stderr,
    restarts: 0,
    heldModels: new Set([MODELS.add.sha256, MODELS.identity.sha256, MODELS.slow.sha256]),
    async ensurePaid() {
      if (world.paid.active()) return
      await world.paid.end().catch(() => {})
      world.paid = paid = await startPaid()
    },
    async restart() {
      // Cases running side by side may all find the daemon dead: one restart serves them all.
      restarting ??= restartDaemon().finally(() => {
        restarting = undefined
      })
      await restarting
    },

    async stop() {
      await world.paid.end().catch(() => {})
      await honest.stop().catch(() => {})
      await Promise.all([node.stop(), stranger.stop(), slow.stop()])
      await daemon.provider.stop()
      await chain.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
  return world
}
