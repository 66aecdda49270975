import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { type Address, getAddress, type Hex, type LocalAccount, zeroAddress } from 'viem'
import { type InferResult, infer } from '../compute/infer.js'
import { pushModel } from '../compute/model-transfer.js'
import type { TensorData, TensorLike } from '../compute/tensor.js'
import { InvalidInputError, ParkbenchError } from '../errors.js'
import { EndReason } from '../lease/pb/lease.js'
import { openLease, type RenterLease, type RenterLeaseSummary } from '../lease/renter-lease.js'
import { type DiscoveredOffer, findOffers } from '../market/discover.js'
import { createNode, type ParkbenchNode } from '../net/create-node.js'
import { waitForDhtPeers } from '../net/dht-ready.js'
import { getChannel } from '../pay/actions/get-channel.js'
import { openChannel } from '../pay/actions/open-channel.js'
import type { ChainConfig } from '../pay/chain-config.js'
import {
  createPayPublicClient,
  createPayWalletClient,
  type PayPublicClient,
  type PayWalletClient,
} from '../pay/clients.js'
import { createPaymentSender, type PaymentSender } from '../pay/payment-sender.js'
import { createPaymentStore, type PaymentStore } from '../pay/payment-store.js'

const log = logger('parkbench:client')

/** Where a renter keeps its payment state and known channels, inside its data dir. */
export const RENTER_STORE_DIR = 'renter-payments'
export const RENTER_CHANNELS_FILE = 'channels.json'

/** A provider that failed is not tried again for this long. */
const FAILED_PROVIDER_BACKOFF_MS = 30_000

/** No provider could serve the request. `attempts` says what went wrong with each one tried. */
export class NoProviderError extends ParkbenchError {
  static override name = 'NoProviderError'
  readonly attempts: Array<{ peer: string; error: string }>
  constructor(message: string, attempts: Array<{ peer: string; error: string }> = []) {
    super(
      attempts.length === 0
        ? message
        : `${message}: ${attempts.map((a) => `${a.peer.slice(-8)}: ${a.error}`).join('; ')}`,
      'NO_PROVIDER',
    )
    this.attempts = attempts
  }
}

export interface ClientInit {
  dataDir: string
  chain: ChainConfig
  /** The renter's EVM account: funds channels and signs commitments and vouchers. */
  account: LocalAccount
  /** Peers to join through. */
  bootstrap?: string[]
  /** An existing node to use instead of starting one. */
  node?: ParkbenchNode
  /** Pay in this ERC-20 instead of the native coin. */
  token?: Address
  /** Seconds per lease commitment (renewed while in use). Default 60. */
  leaseSeconds?: number
  /** End a lease after this long without jobs. Default 10 s. */
  idleMs?: number
  /** Deposit of a new channel. Default: 10 commitments at the price ceiling. */
  deposit?: bigint
  /** Only providers at most this far away, in ms. */
  maxRttMs?: number
  /** Providers tried per request before giving up. Default 3. */
  maxAttempts?: number
  /** Told about leases as they start and end. */
  onEvent?(event: ClientEvent): void
}

export type ClientEvent =
  | { type: 'lease-started'; provider: string; leaseId: Hex; pricePerSecond: bigint; channelId: Hex }
  | { type: 'lease-ended'; summary: RenterLeaseSummary }
  | { type: 'channel-opened'; provider: Address; channelId: Hex; deposit: bigint }
  | { type: 'model-pushed'; provider: string; sha256: string }
  | { type: 'failover'; from: string; error: string }
  | { type: 'lease-failed'; provider: string; error: string }

export interface ClientInferParameters {
  /** The model: a path to an .onnx file, its bytes, or its sha256 (hex) if providers already hold it. */
  model: string | Uint8Array
  inputs: Record<string, TensorLike | TensorData>
  outputNames?: string[]
  /** The most the renter pays per second of lease. */
  maxPricePerSecond: bigint
}

export interface ClientInferResult extends InferResult {
  provider: string
  leaseId: Hex
}

interface HeldLease {
  lease: RenterLease
  offer: DiscoveredOffer
  models: Set<string>
  idleTimer?: NodeJS.Timeout
  jobs: number
}

/**
 * The renter's SDK: `client.infer()` finds the best provider nearby (cheapest weighted by RTT), opens or reuses a
 * payment channel to it, leases its compute, pushes the model if needed, runs the job, keeps paying by the second
 * while jobs keep coming, fails over to the next provider if one fails, and ends the lease when idle.
 */
export class Client {
  readonly node: ParkbenchNode
  private readonly init: ClientInit
  private readonly ownsNode: boolean
  private readonly store: PaymentStore
  private readonly sender: PaymentSender
  private readonly publicClient: PayPublicClient
  private readonly wallet: PayWalletClient
  private readonly held = new Map<string, HeldLease>()
  private readonly summaries: RenterLeaseSummary[] = []
  /** Providers that failed recently, until when (ms): skipped by discovery for a while, not for ever. */
  private readonly failedUntil = new Map<string, number>()

  constructor(
    init: ClientInit,
    parts: { node: ParkbenchNode; ownsNode: boolean; store: PaymentStore; sender: PaymentSender },
  ) {
    this.init = init
    this.node = parts.node
    this.ownsNode = parts.ownsNode
    this.store = parts.store
    this.sender = parts.sender
    this.publicClient = createPayPublicClient(init.chain)
    this.wallet = createPayWalletClient(init.chain, init.account)
  }

  /** Leases ended so far, oldest first. */
  leaseHistory(): RenterLeaseSummary[] {
    return [...this.summaries]
  }

  /** Leases held now. */
  activeLeases(): RenterLease[] {
    return [...this.held.values()].map((h) => h.lease)
  }

  /** Run one inference on the best provider nearby, leasing and paying as needed; fails over on provider failure. */
  async infer(params: ClientInferParameters, options: AbortOptions = {}): Promise<ClientInferResult> {
    const model = await resolveModel(params.model)
    const attempts: Array<{ peer: string; error: string }> = []
    const maxAttempts = this.init.maxAttempts ?? 3
    while (attempts.length < maxAttempts) {
      const held = await this.leaseFor(model, params.maxPricePerSecond, attempts, options)
      const peer = held.offer.peerId
      try {
        clearTimeout(held.idleTimer)
        const result = await infer(
          this.node,
          peer,
          {
            model: model.sha256,
            inputs: params.inputs,
            ...(params.outputNames != null ? { outputNames: params.outputNames } : {}),
          },
          options,
        )
        held.jobs++
        this.armIdle(held)
        return { ...result, provider: peer.toString(), leaseId: held.lease.leaseId }
      } catch (err) {
        if (options.signal?.aborted === true) throw err
        // The provider failed mid-lease: stop paying it and try the next one.
        attempts.push({ peer: peer.toString(), error: (err as Error).message })
        this.markFailed(peer.toString())
        this.init.onEvent?.({ type: 'failover', from: peer.toString(), error: (err as Error).message })
        await this.release(held, EndReason.PROVIDER_UNRESPONSIVE)
      }
    }
    throw new NoProviderError(`No provider served the request after ${attempts.length} attempts`, attempts)
  }

  /** End every lease (paying the final voucher) and stop. */
  async close(): Promise<void> {
    await Promise.all([...this.held.values()].map(async (h) => this.release(h, EndReason.RENTER_ENDED)))
    await this.sender.stop()
    if (this.ownsNode) await this.node.stop()
    await this.store.stop()
  }

  private markFailed(peer: string): void {
    this.failedUntil.set(peer, Date.now() + FAILED_PROVIDER_BACKOFF_MS)
  }

  private armIdle(held: HeldLease): void {
    clearTimeout(held.idleTimer)
    held.idleTimer = setTimeout(() => {
      this.release(held, EndReason.IDLE).catch((err: Error) => log.error('ending idle lease failed - %e', err))
    }, this.init.idleMs ?? 10_000)
    held.idleTimer.unref()
  }

  private async release(held: HeldLease, reason: EndReason): Promise<void> {
    clearTimeout(held.idleTimer)
    const key = held.offer.peerId.toString()
    if (this.held.get(key) === held) this.held.delete(key)
    const summary = await held.lease.end(reason)
    this.summaries.push(summary)
    this.init.onEvent?.({ type: 'lease-ended', summary })
  }

  /** A paid-up lease on a provider that holds (or now has) the model. */
  private async leaseFor(
    model: ResolvedModel,
    maxPrice: bigint,
    attempts: Array<{ peer: string; error: string }>,
    options: AbortOptions,
  ): Promise<HeldLease> {
    for (const held of this.held.values()) {
      if (held.lease.active && (held.models.has(model.sha256) || held.models.size === 0)) {
        if (held.models.size === 0 && model.bytes != null) {
          // The lease covers any model: push this one if the provider lacks it.
          await this.ensureModel(held, model, options)
        }
        return held
      }
      if (!held.lease.active) this.held.delete(held.offer.peerId.toString())
    }
    const candidates = await this.discover(model, maxPrice, options)
    for (const offer of candidates) {
      const peer = offer.peerId.toString()
      if ((this.failedUntil.get(peer) ?? 0) > Date.now() || this.held.has(peer)) continue
      try {
        return await this.startLease(offer, model, maxPrice, options)
      } catch (err) {
        attempts.push({ peer, error: (err as Error).message })
        this.markFailed(peer)
        this.init.onEvent?.({ type: 'lease-failed', provider: peer, error: (err as Error).message })
        if (attempts.length >= (this.init.maxAttempts ?? 3)) break
      }
    }
    throw new NoProviderError(
      candidates.length === 0
        ? 'No provider offers this model (or the runtime) within the price'
        : 'Every provider tried failed',
      attempts,
    )
  }

  private async discover(model: ResolvedModel, maxPrice: bigint, options: AbortOptions): Promise<DiscoveredOffer[]> {
    if (this.ownsNode && this.init.bootstrap != null && this.init.bootstrap.length > 0) {
      await waitForDhtPeers(this.node, 1, { signal: options.signal ?? AbortSignal.timeout(10_000) })
    }
    const query = {
      maxPricePerSecond: maxPrice,
      timeoutMs: 3_000,
      ...(this.init.maxRttMs != null ? { maxRttMs: this.init.maxRttMs } : {}),
    }
    const usable = (o: DiscoveredOffer): boolean =>
      Number(o.offer.chainId) === this.init.chain.chainId &&
      Buffer.from(o.offer.channelContract).equals(Buffer.from(this.init.chain.contract.slice(2), 'hex')) &&
      (o.offer.token.length === 0
        ? this.init.token == null
        : this.init.token != null && Buffer.from(o.offer.token).equals(Buffer.from(this.init.token.slice(2), 'hex')))
    const holders = (await findOffers({ node: this.node }, { ...query, model: model.sha256 }, options)).filter(usable)
    if (holders.length > 0 || model.bytes == null) return holders
    // Nobody holds it: any provider of the runtime will do, and we push the model.
    return (await findOffers({ node: this.node }, query, options)).filter(usable)
  }

  private async startLease(
    offer: DiscoveredOffer,
    model: ResolvedModel,
    maxPrice: bigint,
    options: AbortOptions,
  ): Promise<HeldLease> {
    const holds = offer.offer.models.some((m) => Buffer.from(m.sha256).toString('hex') === model.sha256)
    const seconds = Math.min(this.init.leaseSeconds ?? 60, offer.offer.maxLeaseSeconds)
    const channelId = await this.channelTo(offer, maxPrice * BigInt(seconds), options)
    const lease = await openLease(
      { node: this.node, sender: this.sender },
      {
        provider: offer.peerId,
        providerPeerId: offer.peerId,
        channelId,
        models: holds ? [model.sha256] : [],
        maxPricePerSecond: maxPrice,
        seconds,
      },
      options,
    )
    const held: HeldLease = { lease, offer, models: new Set(holds ? [model.sha256] : []), jobs: 0 }
    this.held.set(offer.peerId.toString(), held)
    this.init.onEvent?.({
      type: 'lease-started',
      provider: offer.peerId.toString(),
      leaseId: lease.leaseId,
      pricePerSecond: lease.quote.pricePerSecond,
      channelId,
    })
    void lease.ended.then(() => {
      if (this.held.get(offer.peerId.toString()) === held) {
        this.held.delete(offer.peerId.toString())
        this.summaries.push(lease.summary())
        this.init.onEvent?.({ type: 'lease-ended', summary: lease.summary() })
      }
    })
    try {
      await lease.waitPaidUp(options)
      if (!holds) await this.ensureModel(held, model, options)
    } catch (err) {
      await this.release(held, EndReason.PROTOCOL_ERROR)
      throw err
    }
    return held
  }

  private async ensureModel(held: HeldLease, model: ResolvedModel, options: AbortOptions): Promise<void> {
    if (held.models.has(model.sha256) || model.bytes == null) return
    await pushModel(this.node, held.offer.peerId, model.bytes, { ...options, name: model.name })
    held.models.add(model.sha256)
    this.init.onEvent?.({ type: 'model-pushed', provider: held.offer.peerId.toString(), sha256: model.sha256 })
  }

  /** An open channel to the offer's payout address: reused if we have one that can pay `needed`, else a new one. */
  private async channelTo(offer: DiscoveredOffer, needed: bigint, options: AbortOptions): Promise<Hex> {
    const provider = getAddress(`0x${Buffer.from(offer.offer.payoutAddress).toString('hex')}`)
    const token = this.init.token
    const file = join(this.init.dataDir, RENTER_CHANNELS_FILE)
    const known = await readChannels(file)
    const key =
      `${this.init.chain.chainId}:${this.init.chain.contract}:${provider}:${token ?? zeroAddress}`.toLowerCase()
    const existing = known[key]
    if (existing != null) {
      const state = await getChannel(
        this.publicClient,
        { contract: this.init.chain.contract, channelId: existing },
        options,
      )
      const spent =
        this.sender.channelTotal(existing) > state.settled ? this.sender.channelTotal(existing) : state.settled
      if (state.deposit > 0n && state.closeRequestedAt === 0n && state.deposit - spent >= needed) return existing
    }
    const deposit = this.init.deposit ?? needed * 10n
    const opened = await openChannel(this.wallet, {
      contract: this.init.chain.contract,
      provider,
      amount: deposit,
      ...(token != null ? { token } : {}),
    })
    known[key] = opened.channelId
    await writeChannels(file, known)
    this.init.onEvent?.({ type: 'channel-opened', provider, channelId: opened.channelId, deposit: opened.deposit })
    return opened.channelId
  }
}

interface ResolvedModel {
  sha256: string
  bytes?: Uint8Array
  name: string
}

async function resolveModel(model: string | Uint8Array): Promise<ResolvedModel> {
  if (typeof model !== 'string') {
    return { sha256: createHash('sha256').update(model).digest('hex'), bytes: model, name: 'model.onnx' }
  }
  if (/^[0-9a-fA-F]{64}$/.test(model)) return { sha256: model.toLowerCase(), name: model.toLowerCase() }
  let bytes: Uint8Array
  try {
    bytes = await readFile(model)
  } catch (err) {
    throw new InvalidInputError(`Cannot read model ${model}: ${(err as Error).message}`, { cause: err })
  }
  return {
    sha256: createHash('sha256').update(bytes).digest('hex'),
    bytes,
    name: model.split(/[\\/]/).pop() ?? 'model.onnx',
  }
}

async function readChannels(file: string): Promise<Record<string, Hex>> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, Hex>
  } catch {
    return {}
  }
}

async function writeChannels(file: string, channels: Record<string, Hex>): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, `${JSON.stringify(channels, null, 2)}\n`)
  await rename(tmp, file)
}

/**
 * Create a renter client: a libp2p node (unless one is given), the renter's payment store and sender.
 *
 * @example
 * ```ts
 * const client = await createClient({ dataDir, chain, account, bootstrap: [addr] })
 * const { outputs, provider } = await client.infer({ model: 'det.onnx', inputs, maxPricePerSecond: 10n ** 9n })
 * await client.close()
 * ```
 */
export async function createClient(init: ClientInit): Promise<Client> {
  const ownsNode = init.node == null
  const node =
    init.node ??
    (await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: init.bootstrap ?? [], dhtServer: false }))
  const storePath = join(init.dataDir, RENTER_STORE_DIR)
  await mkdir(storePath, { recursive: true })
  const store = await createPaymentStore({ path: storePath })
  const sender = createPaymentSender(
    { store, account: init.account },
    { chainId: init.chain.chainId, contract: init.chain.contract },
  )
  await sender.start()
  return new Client(init, { node, ownsNode, store, sender })
}
