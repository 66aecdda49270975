import type { PrivateKey } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { createMarketProvider, type MarketProvider } from '../market/market-provider.js'
import type { OfferSummary } from '../market/offer.js'
import { summarizeOffer, verifySignedOffer } from '../market/offer.js'
import type { ModelSpec } from '../market/pb/market.js'
import { createNode, type ParkbenchNode } from '../net/create-node.js'
import { loadOrCreatePeerKey } from '../net/keys.js'
import type { DaemonConfig } from './config.js'
import { NoPaymentTermsError } from './errors.js'

const log = logger('parkbench:daemon')

export interface DaemonStatus {
  peerId: string
  addresses: string[]
  selling: boolean
  offer: OfferSummary | undefined
}

/**
 * The composition root: one node, and the services on it, started and stopped in order
 * (key -> libp2p -> market). Only the daemon wires services together.
 */
export class Daemon {
  readonly config: DaemonConfig
  private privateKey: PrivateKey | undefined
  private libp2p: ParkbenchNode | undefined
  private market: MarketProvider | undefined

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
      this.market = createMarketProvider({ node: this.libp2p, privateKey: this.privateKey })
      await this.market.start()
      if (config.sell) await this.market.setTerms(this.offerTerms([]))
    } catch (err) {
      await this.stop()
      throw err
    }
    log('started %p', this.libp2p.peerId)
  }

  async stop(): Promise<void> {
    await this.market?.stop()
    await this.libp2p?.stop()
    this.market = undefined
    this.libp2p = undefined
  }

  /** Re-sign and re-advertise the offer, e.g. after a model was added. */
  async refreshOffer(models: ModelSpec[]): Promise<void> {
    if (!this.config.sell || this.market == null) return
    await this.market.setTerms(this.offerTerms(models))
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
