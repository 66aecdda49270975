import type { PrivateKey } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { type ComputeService, createCompute } from '../compute/compute-service.js'
import type { ModelRecord } from '../compute/model-record.js'
import { createMarketProvider, type MarketProvider } from '../market/market-provider.js'
import type { OfferSummary } from '../market/offer.js'
import { summarizeOffer, verifySignedOffer } from '../market/offer.js'
import type { ModelSpec } from '../market/pb/market.js'
import { createNode, type ParkbenchNode } from '../net/create-node.js'
import { loadOrCreatePeerKey } from '../net/keys.js'
import type { DaemonConfig } from './config.js'
import { NoPaymentTermsError } from './errors.js'

const log = logger('parkbench:daemon')

/** How often the daemon looks for models added to its data dir by another process. */
const MODEL_RESCAN_MS = 2_000

/** A stored model as the market lists it: symbolic dims (`batch`) become -1. */
export function toModelSpec(record: ModelRecord): ModelSpec {
  const tensor = (t: ModelRecord['inputs'][number]): ModelSpec['inputs'][number] => ({
    name: t.name,
    dtype: t.dtype,
    dims: t.dims.map((d) => (typeof d === 'number' ? BigInt(d) : -1n)),
  })
  return {
    sha256: Uint8Array.from(Buffer.from(record.sha256, 'hex')),
    name: record.name,
    inputs: record.inputs.map(tensor),
    outputs: record.outputs.map(tensor),
    sizeBytes: BigInt(record.sizeBytes),
  }
}

export interface DaemonStatus {
  peerId: string
  addresses: string[]
  selling: boolean
  offer: OfferSummary | undefined
}

/**
 * The composition root: one node, and the services on it, started and stopped in order
 * (key -> libp2p -> compute -> market). Only the daemon wires services together.
 */
export class Daemon {
  readonly config: DaemonConfig
  private privateKey: PrivateKey | undefined
  private libp2p: ParkbenchNode | undefined
  private market: MarketProvider | undefined
  private computeService: ComputeService | undefined
  private modelsTimer: NodeJS.Timeout | undefined
  private advertisedModels = ''

  constructor(config: DaemonConfig) {
    this.config = config
  }

  get node(): ParkbenchNode {
    if (this.libp2p == null) throw new Error('Daemon is not started')
    return this.libp2p
  }

  async start(): Promise<void> {
    const { config } = this
    if (config.sell && config.payment == null) throw new NoPaymentTermsError()
    this.privateKey = await loadOrCreatePeerKey(config.dataDir)
    this.libp2p = await createNode({
      privateKey: this.privateKey,
      listen: config.listen,
      bootstrap: config.bootstrap,
      mdns: config.mdns,
    })
    try {
      this.computeService = createCompute(this.libp2p, { dataDir: config.dataDir, freeMode: config.compute.freeMode })
      await this.computeService.start()
      this.market = createMarketProvider({ node: this.libp2p, privateKey: this.privateKey })
      await this.market.start()
      await this.syncModels()
      // `parkbench model add` writes to the data dir while the daemon runs: pick new models up within seconds.
      this.modelsTimer = setInterval(() => {
        this.syncModels().catch((err: Error) => log.error('model rescan failed - %e', err))
      }, MODEL_RESCAN_MS)
      this.modelsTimer.unref()
    } catch (err) {
      await this.stop()
      throw err
    }
    log('started %p', this.libp2p.peerId)
  }

  async stop(): Promise<void> {
    clearInterval(this.modelsTimer)
    await this.market?.stop()
    await this.computeService?.stop()
    await this.libp2p?.stop()
    this.market = undefined
    this.computeService = undefined
    this.libp2p = undefined
  }

  /** The compute service: model store and worker pool. */
  get compute(): ComputeService {
    if (this.computeService == null) throw new Error('Daemon is not started')
    return this.computeService
  }

  /** Re-sign and re-advertise the offer when the models in the store changed. */
  async syncModels(): Promise<void> {
    if (!this.config.sell || this.market == null || this.computeService == null) return
    const records = await this.computeService.store.list()
    const fingerprint = records
      .map((r) => r.sha256)
      .sort()
      .join(',')
    if (fingerprint === this.advertisedModels && this.market.currentOffer() != null) return
    this.advertisedModels = fingerprint
    await this.market.setTerms(this.offerTerms(records.map(toModelSpec)))
  }

  async status(): Promise<DaemonStatus> {
    const node = this.node
    const signed = this.market?.currentOffer()
    const offer = signed == null ? undefined : summarizeOffer(node.peerId, (await verifySignedOffer(signed)).offer)
    return {
      peerId: node.peerId.toString(),
      addresses: node.getMultiaddrs().map((a) => a.toString()),
      selling: signed != null,
      offer,
    }
  }

  private offerTerms(models: ModelSpec[]): Parameters<MarketProvider['setTerms']>[0] {
    const { offer, payment } = this.config
    if (payment == null) throw new NoPaymentTermsError()
    return {
      payoutAddress: payment.payoutAddress,
      chainId: payment.chainId,
      channelContract: payment.channelContract,
      token: payment.token,
      tokenSymbol: payment.tokenSymbol,
      pricePerSecond: offer.pricePerSecond,
      threads: offer.threads,
      memoryBytes: offer.memoryBytes,
      maxLeaseSeconds: offer.maxLeaseSeconds,
      region: offer.region,
      models,
    }
  }
}

/** Create a daemon for `config`; call `start()` to bring it up. */
export function createDaemon(config: DaemonConfig): Daemon {
  return new Daemon(config)
}
