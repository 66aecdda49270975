import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { Tensor as OrtTensor } from 'onnxruntime-node'
import type { Hex } from 'viem'
import type { RenterClient } from '../client/client.js'
import { NoProviderError } from '../client/errors.js'
import type { ClientProgressEvent } from '../client/events.js'
import { checkBudget, headroom } from './budget.js'
import { GatewayBusyError } from './errors.js'
import type { ApiKeyRecord, KeyStore } from './key-store.js'
import type { CatalogModel, ModelCatalog } from './model-catalog.js'
import type { ParsedInferRequest } from './oip-tensors.js'
import { type RequestCharge, SpendLedger } from './spend-ledger.js'

const log = logger('parkbench:gateway')

export interface GatewayComponents {
  /** The renter client that does discovery, channels, leases, payment, model push and failover. */
  client: RenterClient
  keys: KeyStore
  models: ModelCatalog
}

export interface GatewayInit {
  /** Requests running at once; more get GatewayBusyError (429). Default 32. */
  maxConcurrentRequests?: number
  /** Longest a request may take, in ms. Default 60 s. */
  requestTimeoutMs?: number
  /** How often the leases' payments are taken in and idle leases checked against their key's budget. Default 100 ms. */
  pollMs?: number
}

/** One request's result: the outputs, what it cost and who served it. */
export interface GatewayInferResult {
  model: CatalogModel
  outputs: Record<string, OrtTensor>
  /** Wei charged to the key for this request (its share of the ticks paid while it ran, and its lease's first). */
  costWei: bigint
  providerPeer: string
  leaseId: string
  key: ApiKeyRecord
}

/**
 * The core both the HTTP gateway and the MCP server serve through: authenticate the key, check its budget, run the
 * request through the renter client, and charge what the leases actually paid to the keys whose requests caused it
 * ({@link SpendLedger}).
 *
 * The budget rule: each request reserves one tick (one second) at its key's price ceiling while it runs, and may
 * start only if spent + reserved + that reservation fits under every cap. A lease left idle by a key that cannot
 * afford its next tick is ended at once. So a key passes a cap by at most one tick per request in flight (a request
 * that runs longer than a second pays its extra seconds too).
 */
export class Gateway {
  readonly client: RenterClient
  readonly keys: KeyStore
  readonly models: ModelCatalog
  private readonly ledger: SpendLedger
  private readonly reserved = new Map<string, bigint>()
  private readonly maxConcurrent: number
  private readonly timeoutMs: number
  private readonly pollMs: number
  private inFlight = 0
  private timer: NodeJS.Timeout | undefined
  private ending = new Set<string>()
  /** The tail of the queue of requests waiting to get onto a lease (see {@link Gateway.infer}). */
  private acquiring: Promise<void> = Promise.resolve()

  constructor(components: GatewayComponents, init: GatewayInit = {}) {
    this.client = components.client
    this.keys = components.keys
    this.models = components.models
    this.ledger = new SpendLedger((keyId, amount) => this.keys.charge(keyId, amount))
    this.maxConcurrent = init.maxConcurrentRequests ?? 32
    this.timeoutMs = init.requestTimeoutMs ?? 60_000
    this.pollMs = init.pollMs ?? 100
  }

  start(): void {
    this.timer = setInterval(() => this.sync(), this.pollMs)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.sync()
    await this.keys.flush()
  }

  /** Feed the client's events here (`ClientInit.onEvent`): a lease's end carries its final payment. */
  onClientEvent(event: ClientProgressEvent): void {
    if (event.type === 'lease:ended') this.ledger.observe(event.summary, true)
  }

  /** Would `extra` more requests (e.g. bodies being received) put it over its limit of requests at once? */
  busy(extra = 0): boolean {
    return this.inFlight + extra >= this.maxConcurrent
  }

  /** Requests running now. */
  get requestsInFlight(): number {
    return this.inFlight
  }

  /** Wei paid on leases that no request has been charged for yet (0 once every lease has had a request). */
  unattributedWei(): bigint {
    return this.ledger.unattributed()
  }

  /** What a key's requests in flight hold in reserve. */
  reservedFor(keyId: string): bigint {
    return this.reserved.get(keyId) ?? 0n
  }

  /** Run one request for the key `token` names. */
  async infer(
    token: string | undefined,
    modelName: string,
    request: Pick<ParsedInferRequest, 'inputs'> & { outputNames?: string[] },
    options: AbortOptions = {},
  ): Promise<GatewayInferResult> {
    const key = await this.keys.authenticate(token)
    const model = this.models.resolve(modelName)
    if (this.inFlight >= this.maxConcurrent) throw new GatewayBusyError()
    const reservation = key.caps.maxPricePerSecond
    this.sync()
    checkBudget(key.caps, this.keys.spendOf(key.id), this.reservedFor(key.id), reservation)
    this.reserved.set(key.id, this.reservedFor(key.id) + reservation)
    this.inFlight++
    const charge: RequestCharge = { keyId: key.id, cost: 0n }
    const timeout = AbortSignal.timeout(this.timeoutMs)
    const signal = options.signal != null ? AbortSignal.any([options.signal, timeout]) : timeout
    let released: (() => void) | undefined
    try {
      const params = {
        model: model.bytes ?? model.sha256,
        inputs: request.inputs,
        maxPricePerSecond: key.caps.maxPricePerSecond,
        ...(request.outputNames != null && request.outputNames.length > 0 ? { outputNames: request.outputNames } : {}),
      }
      // Requests get onto a lease one at a time: the client starts a lease per call when none is held, and two
      // starting at once on one provider collide (the second fails and the provider is skipped for 30 s). Once a
      // request's job is sent (job:started), the next one goes; jobs themselves run concurrently.
      let release!: () => void
      const turn = new Promise<void>((resolve) => {
        release = resolve
      })
      const previous = this.acquiring
      this.acquiring = previous.then(() => turn)
      released = release
      await previous
      const callOptions = {
        signal,
        onProgress: (e: ClientProgressEvent) => {
          if (e.type === 'lease:started') this.ledger.attach(charge, e.leaseId, e.providerPeer, e.pricePerSecond)
          else if (e.type === 'job:started') {
            this.ledger.attach(charge, e.leaseId, e.providerPeer)
            release()
          }
        },
      }
      const result = await this.inferOnSomeLease(params, callOptions)
      this.sync()
      return {
        model,
        outputs: result.outputs,
        costWei: charge.cost,
        providerPeer: result.providerPeer,
        leaseId: result.leaseId,
        key,
      }
    } finally {
      released?.()
      this.sync()
      this.ledger.detach(charge)
      this.reserved.set(key.id, this.reservedFor(key.id) - reservation)
      this.inFlight--
      this.endUnaffordableIdleLeases()
    }
  }

  /**
   * `client.infer`, waiting out our own leases: the client holds one lease per provider, for the model it was taken
   * for, so a provider whose lease is for another model is "busy with our leases". Such a lease is ended once no
   * request runs on it (this request holds the queue onto leases meanwhile, so none joins it), then this one goes.
   */
  private async inferOnSomeLease(
    params: Parameters<RenterClient['infer']>[0],
    options: AbortOptions & { onProgress: (e: ClientProgressEvent) => void },
  ): ReturnType<RenterClient['infer']> {
    for (;;) {
      try {
        return await this.client.infer(params, options)
      } catch (err) {
        const skippedOurs = err instanceof NoProviderError && err.attempts.length === 0 && (err.found ?? 0) > 0
        if (!skippedOurs || this.client.activeLeases().length === 0) throw err
        while (!(await this.endIdleLeases())) {
          options.signal?.throwIfAborted()
          if (this.client.activeLeases().length === 0) break
          await new Promise((r) => setTimeout(r, 20))
        }
      }
    }
  }

  /** End every lease no request is running on; true if there was one. */
  private async endIdleLeases(): Promise<boolean> {
    this.sync()
    const idle = this.ledger.idleLeases()
    const ended = await Promise.all(idle.map((l) => this.client.endLease(l.leaseId as Hex)))
    return ended.some((e) => e)
  }

  /** Take in what every active lease has paid. */
  private sync(): void {
    for (const summary of this.client.activeLeases()) this.ledger.observe(summary)
    this.endUnaffordableIdleLeases()
  }

  /** An idle lease's next tick goes to the key that used it last: end it if that key cannot afford one more. */
  private endUnaffordableIdleLeases(): void {
    for (const idle of this.ledger.idleLeases()) {
      if (this.ending.has(idle.leaseId)) continue
      const key = this.keys.byId(idle.keyId)
      const left = key == null ? 0n : headroom(key.caps, this.keys.spendOf(key.id), this.reservedFor(key.id))
      if (key != null && key.revokedAt == null && (left == null || left >= idle.pricePerSecond)) continue
      this.ending.add(idle.leaseId)
      this.client
        .endLease(idle.leaseId as Hex)
        .catch((err: Error) => log.error('ending idle lease %s failed - %e', idle.leaseId, err))
        .finally(() => this.ending.delete(idle.leaseId))
    }
  }
}

/** Build the gateway's core over a renter client, its key store and its models. */
export function createGateway(components: GatewayComponents, init: GatewayInit = {}): Gateway {
  return new Gateway(components, init)
}
