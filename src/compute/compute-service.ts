import { setMaxListeners } from 'node:events'
import type { AbortOptions, Startable } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { RUN_ON_RELAYED_CONNECTIONS } from '../net/constants.js'
import type { RpcNode } from '../net/rpc.js'
import { type AdmissionPolicy, freeModePolicy, refuseAllPolicy } from './admission.js'
import type { ComputeContext } from './compute-context.js'
import {
  DEFAULT_JOB_DEADLINE_MS,
  DEFAULT_MAX_CONCURRENT_TRANSFERS,
  DEFAULT_MAX_INBOUND_STREAMS,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_REQUEST_MEMORY_BYTES,
  DEFAULT_MAX_TRANSFERS_PER_PEER,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_TRANSFER_IDLE_MS,
  DEFAULT_TRANSFER_TIMEOUT_MS,
  INFER_PROTOCOL,
  MODEL_PROTOCOL,
  MODEL_REQUEST_TIMEOUT_MS,
} from './constants.js'
import { ShuttingDownError } from './errors.js'
import { InferHandler } from './infer-handler.js'
import { ModelTransferHandler } from './model-handler.js'
import type { ModelRecord } from './model-record.js'
import { type ModelCatalogPolicy, ModelStore } from './model-store.js'
import { fetchModelInto, type TransferProgress } from './model-transfer.js'
import { WorkerPool } from './worker-pool.js'
import type { WorkerPoolInit } from './worker-pool-types.js'

const log = logger('parkbench:compute')

/** The part of a libp2p node the compute service uses; a ParkbenchNode fits as it is. */
export type ComputeComponents = Pick<RpcNode, 'handle' | 'unhandle' | 'dialProtocol'>

export interface ComputeInit extends WorkerPoolInit {
  /** The parkbench data dir; models live in `<dataDir>/models`. */
  dataDir: string
  /** Largest model stored, imported, pushed or fetched. Default 256 MiB. */
  maxModelBytes?: number
  /** Default deadline of one job, queue wait included, in ms. Default 60 s. A request may ask for less. */
  jobDeadlineMs?: number
  /** Time a peer has to deliver its request frame, in ms. Default 30 s. */
  requestTimeoutMs?: number
  /** Largest infer request and response frame, in bytes (all tensors together). Default 64 MiB. */
  maxMessageBytes?: number
  /** Inbound compute streams per connection. Default 32. */
  maxInboundStreams?: number
  /** Requests in flight on one infer stream; the provider stops reading the stream past it. Default 16. */
  maxPipelinedRequests?: number
  /** An infer stream with no new request for this long is closed, in ms. Default 60 s. */
  streamIdleMs?: number
  /**
   * Infer requests decoded and waiting or running at once across all peers; more are answered BUSY. With
   * `maxPipelinedRequests` per stream and `maxInboundStreams` per connection it bounds the memory held by
   * requests. Default: workers + maxQueue.
   */
  maxConcurrentRequests?: number
  /**
   * Bytes of infer request frames decoded and waiting or running at once, all peers: the provider's budget for the
   * inputs it holds (the workers' is the pool's `memory`). One more is answered BUSY (one is always taken).
   * Default 512 MiB.
   */
  maxRequestMemoryBytes?: number
  /** Model transfers served (pushes received, fetches answered) at once, all peers; more are BUSY. Default 4. */
  maxConcurrentTransfers?: number
  /** Model transfers served at once to one peer; more are BUSY. Default 1. */
  maxTransfersPerPeer?: number
  /** Time limit of one model transfer, in ms. Default 10 minutes. */
  transferTimeoutMs?: number
  /** Longest wait for the next model chunk, in ms. Default 30 s. */
  transferIdleMs?: number
  /** Serve any peer (LAN, demo, test). Ignored when `admit` is given. Default false: refuse everyone. */
  freeMode?: boolean
  /** The admission hook; see {@link AdmissionPolicy}. */
  admit?: AdmissionPolicy
  /** Limits on the models the store may hold (a provider: what its offer can list). Default: none. */
  catalog?: ModelCatalogPolicy
  /**
   * The model store and worker pool to serve from, when the caller built them first (the daemon does: its lease
   * provider checks models against the same store). Default: made from this init.
   */
  storage?: ComputeStorage
}

/** Where models live and the workers that load and run them. */
export interface ComputeStorage {
  store: ModelStore
  pool: WorkerPool
  /**
   * The pool is shared with other services in this process (the swarm lab's providers): the service neither starts
   * nor stops it. Default false.
   */
  sharedPool?: boolean
}

/**
 * The model store and its worker pool (which loads each new model to check it), before any protocol is served.
 *
 * @example
 * const storage = createComputeStorage({ dataDir })
 * const leases = createLeaseProvider({ ..., models: storage.store }, ...)
 * const compute = createCompute(node, { dataDir, storage, admit: leases.admit })
 */
export function createComputeStorage(
  init: Pick<ComputeInit, 'dataDir' | 'maxModelBytes' | 'catalog'> & WorkerPoolInit & { sharedPool?: WorkerPool },
): ComputeStorage {
  const pool = init.sharedPool ?? new WorkerPool(init)
  const store = new ModelStore({
    dataDir: init.dataDir,
    ...(init.maxModelBytes === undefined ? {} : { maxModelBytes: init.maxModelBytes }),
    ...(init.catalog === undefined ? {} : { catalog: init.catalog }),
    inspect: (path, options) => pool.inspect(path, options),
  })
  return { store, pool, sharedPool: init.sharedPool !== undefined }
}

/**
 * Serves `/parkbench/infer/1.0.0` ({@link InferHandler}) and `/parkbench/model/1.0.0` ({@link ModelTransferHandler})
 * from a {@link ModelStore} through a {@link WorkerPool}. Every exchange is admitted by the policy hook, bounded in
 * bytes and time, and answered with a status; a hostile or vanished peer costs at most its own stream.
 */
export class ComputeService implements Startable {
  readonly store: ModelStore
  readonly pool: WorkerPool
  private readonly ownsPool: boolean
  private readonly maxInboundStreams: number
  private readonly infer: InferHandler
  private readonly models: ModelTransferHandler
  private running = false
  private readonly inFlight = new Set<Promise<void>>()
  private stopping = new AbortController()

  constructor(
    private readonly components: ComputeComponents,
    init: ComputeInit,
  ) {
    const storage = init.storage ?? createComputeStorage(init)
    this.pool = storage.pool
    this.ownsPool = storage.sharedPool !== true
    this.store = storage.store
    const admit: AdmissionPolicy = init.admit ?? (init.freeMode === true ? freeModePolicy : refuseAllPolicy)
    const requestTimeoutMs = init.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    this.maxInboundStreams = init.maxInboundStreams ?? DEFAULT_MAX_INBOUND_STREAMS
    const service = this
    const context: ComputeContext = {
      store: this.store,
      pool: this.pool,
      admit,
      get running() {
        return service.running
      },
      get stopping() {
        return service.stopping.signal
      },
    }
    this.infer = new InferHandler(context, {
      jobDeadlineMs: init.jobDeadlineMs ?? DEFAULT_JOB_DEADLINE_MS,
      requestTimeoutMs,
      maxMessageBytes: init.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      maxConcurrentRequests: init.maxConcurrentRequests ?? this.pool.size + this.pool.maxQueue,
      maxRequestMemoryBytes: init.maxRequestMemoryBytes ?? DEFAULT_MAX_REQUEST_MEMORY_BYTES,
      maxPipelinedRequests: Math.max(1, init.maxPipelinedRequests ?? 16),
      streamIdleMs: init.streamIdleMs ?? 60_000,
    })
    this.models = new ModelTransferHandler(context, {
      requestTimeoutMs: Math.min(requestTimeoutMs, MODEL_REQUEST_TIMEOUT_MS),
      maxConcurrentTransfers: init.maxConcurrentTransfers ?? DEFAULT_MAX_CONCURRENT_TRANSFERS,
      maxTransfersPerPeer: Math.max(1, init.maxTransfersPerPeer ?? DEFAULT_MAX_TRANSFERS_PER_PEER),
      transferTimeoutMs: init.transferTimeoutMs ?? DEFAULT_TRANSFER_TIMEOUT_MS,
      transferIdleMs: init.transferIdleMs ?? DEFAULT_TRANSFER_IDLE_MS,
    })
  }

  isStarted(): boolean {
    return this.running
  }

  async start(): Promise<void> {
    if (this.running) return
    this.stopping = new AbortController()
    // Every open infer stream listens to it while reading.
    setMaxListeners(Number.POSITIVE_INFINITY, this.stopping.signal)
    if (this.ownsPool) await this.pool.start()
    const options = { maxInboundStreams: this.maxInboundStreams, ...RUN_ON_RELAYED_CONNECTIONS }
    await this.components.handle(
      INFER_PROTOCOL,
      (stream, connection) => this.track(this.infer.handle(stream, connection)),
      options,
    )
    await this.components.handle(
      MODEL_PROTOCOL,
      (stream, connection) => this.track(this.models.handle(stream, connection)),
      options,
    )
    this.running = true
    log('serving %s and %s', INFER_PROTOCOL, MODEL_PROTOCOL)
  }

  /** Stop taking streams, fail in-flight jobs with SHUTTING_DOWN (answered if the peer is still there), end workers. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    // Open infer streams stop reading; their jobs fail with SHUTTING_DOWN below and are answered.
    this.stopping.abort(new ShuttingDownError())
    await this.components.unhandle(INFER_PROTOCOL).catch(() => {})
    await this.components.unhandle(MODEL_PROTOCOL).catch(() => {})
    if (this.ownsPool) await this.pool.stop()
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((resolve) => setTimeout(resolve, 2000).unref()),
    ])
  }

  /** Fetch a model by hash from a peer that holds it into this provider's store (admitted by that peer). */
  async fetchModel(
    peer: Parameters<ComputeComponents['dialProtocol']>[0],
    sha256: string,
    options: AbortOptions & { onProgress?(event: TransferProgress): void } = {},
  ): Promise<ModelRecord> {
    return fetchModelInto(this.components, peer, sha256, this.store, options)
  }

  private track(task: Promise<void>): void {
    this.inFlight.add(task)
    void task.finally(() => this.inFlight.delete(task))
  }
}

/**
 * Create the compute service on a node (a ParkbenchNode fits `components` as it is).
 *
 * @example
 * ```ts
 * const compute = createCompute(node, { dataDir, freeMode: true })
 * await compute.start()
 * await compute.store.add('model.onnx')
 * ```
 */
export function createCompute(components: ComputeComponents, init: ComputeInit): ComputeService {
  return new ComputeService(components, init)
}

/** The js-libp2p service shape: `compute(init)(components)`. */
export function compute(init: ComputeInit): (components: ComputeComponents) => ComputeService {
  return (components) => new ComputeService(components, init)
}
