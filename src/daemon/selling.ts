import { logger } from '@libp2p/logger'
import { InvalidInputError } from '../errors.js'
import type { LeaseProvider } from '../lease/lease-provider.js'
import { EndReason } from '../lease/pb/lease.js'
import type { MarketProvider } from '../market/market-provider.js'
import type { SellConfig } from './config.js'

const log = logger('parkbench:daemon')

/** Who paused selling: the owner (console, control API) or the resource policy. */
export type PausedBy = 'owner' | 'policy'

export interface SellingComponents {
  market: Pick<MarketProvider, 'withdraw'>
  leases: Pick<LeaseProvider, 'pause' | 'resume' | 'setPrice'>
  /** The daemon's offer terms: the price is changed here, so a re-signed offer carries it. */
  offer: SellConfig
  /** Sign and advertise the offer from the current terms and models. */
  advertise(): Promise<void>
}

/**
 * The owner's say over selling while the daemon runs: pause (offer withdrawn, leases ended with a reason the renter
 * sees), resume, and a new price. One place for both the console's buttons and the resource policy.
 */
export class Selling {
  private readonly components: SellingComponents
  private pausedBy: { by: PausedBy; detail: string } | undefined
  /** Pauses and resumes one at a time: a resume racing a pause must not leave the offer up with leases refused. */
  private queue: Promise<unknown> = Promise.resolve()

  constructor(components: SellingComponents) {
    this.components = components
  }

  /** Why selling is paused, while it is. */
  get paused(): { by: PausedBy; detail: string } | undefined {
    return this.pausedBy
  }

  /**
   * Withdraw the offer (the offer protocol answers NO_OFFER; DHT keys are no longer re-provided and lapse), refuse new
   * leases BUSY with `detail`, and end running leases PROVIDER_PAUSED (owner) or PROVIDER_POLICY (policy). Each renter
   * is told in ENDED and has paid up to the tick it prepaid, nothing after. Resolves once every lease has ended.
   */
  async pause(options: { by?: PausedBy; detail?: string } = {}): Promise<void> {
    const by = options.by ?? 'owner'
    const detail = options.detail ?? (by === 'owner' ? 'Paused by its owner' : 'Stopped by its resource policy')
    await this.serialized(async () => {
      this.pausedBy = { by, detail }
      await this.components.market.withdraw()
      await this.components.leases.pause(by === 'owner' ? EndReason.PROVIDER_PAUSED : EndReason.PROVIDER_POLICY, detail)
      log('selling paused (%s): %s', by, detail)
    })
  }

  /** Take leases again and sign and advertise the offer. */
  async resume(): Promise<void> {
    await this.serialized(async () => {
      if (this.pausedBy === undefined) return
      this.pausedBy = undefined
      this.components.leases.resume()
      await this.components.advertise()
      log('selling resumed')
    })
  }

  /**
   * Quote new leases at this price; re-sign and re-advertise the offer (unless paused: resume signs it). Running
   * leases keep the price they agreed. InvalidInputError for a price that is no whole number of base units per tick.
   */
  async setPrice(pricePerSecond: bigint): Promise<void> {
    await this.serialized(async () => {
      try {
        this.components.leases.setPrice(pricePerSecond)
      } catch (err) {
        throw new InvalidInputError((err as Error).message, { cause: err })
      }
      this.components.offer.pricePerSecond = pricePerSecond
      if (this.pausedBy === undefined) await this.components.advertise()
      log('price set to %s per second', pricePerSecond)
    })
  }

  private async serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work)
    this.queue = run.catch(() => {})
    return run
  }
}
