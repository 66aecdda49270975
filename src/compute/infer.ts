import type { RpcNode } from '../net/rpc.js'
import {
  decodeResult,
  encodeInferRequest,
  InferClient,
  type InferOptions,
  type InferParameters,
  type InferPeer,
  type InferRequestBody,
  type InferResult,
} from './infer-client.js'
import type { InferResponse } from './pb/compute.js'

// The types callers of `infer()` have always imported from here.
export type { InferOptions, InferParameters, InferResult, InferTiming } from './infer-client.js'

/** How long a pooled client's stream stays open without requests, by default. */
export const INFER_CLIENT_IDLE_MS = 10_000

export interface InferClientsInit {
  /** Close a provider's stream after this long without requests, in ms. Default 10 s. */
  idleMs?: number
}

interface PooledClient {
  client: InferClient
  timer?: ReturnType<typeof setTimeout>
}

/** The provider id a peer names, if it names exactly one. */
function peerKey(peer: InferPeer): string | undefined {
  if (Array.isArray(peer)) {
    const keys = new Set(peer.map((a) => peerKey(a)))
    return keys.size === 1 ? [...keys][0] : undefined
  }
  if ('getComponents' in peer) return peer.getComponents().find((c) => c.name === 'p2p')?.value
  return peer.toString()
}

/**
 * The pipelined infer streams one node keeps: one {@link InferClient} per provider, opened on first use, kept while
 * in use and closed after `idleMs` without requests, so that concurrent calls never open more streams than a
 * provider accepts. Whoever creates it owns it (and may `close()` it); {@link infer} keeps one per node.
 *
 * @example
 * ```ts
 * const clients = createInferClients(node)
 * const results = await Promise.all(images.map((x) => clients.infer(providerAddr, { model, inputs: { x } })))
 * await clients.close()
 * ```
 */
export class InferClients {
  private readonly clients = new Map<string, PooledClient>()
  private readonly idleMs: number

  constructor(
    private readonly node: Pick<RpcNode, 'dialProtocol'>,
    init: InferClientsInit = {},
  ) {
    this.idleMs = init.idleMs ?? INFER_CLIENT_IDLE_MS
  }

  /**
   * Run one inference on `peer`, on its pooled stream; see {@link infer}. A peer with no known id (a multiaddr
   * without /p2p/), or a call with its own `maxResponseBytes`, takes a stream of its own.
   */
  async infer(peer: InferPeer, parameters: InferParameters, options: InferOptions = {}): Promise<InferResult> {
    const started = performance.now()
    const key = peerKey(peer)
    if (key === undefined || options.maxResponseBytes !== undefined) {
      return decodeResult(await exchange(this.node, peer, encodeInferRequest(parameters), options), started)
    }
    let entry = this.clients.get(key)
    if (entry === undefined) {
      entry = { client: new InferClient(this.node, peer) }
      this.clients.set(key, entry)
    }
    if (entry.timer !== undefined) clearTimeout(entry.timer)
    const pooled = entry
    try {
      return decodeResult(await pooled.client.request(encodeInferRequest(parameters), options), started)
    } finally {
      if (pooled.client.inFlight === 0) {
        pooled.timer = setTimeout(() => {
          if (pooled.client.inFlight > 0) return
          this.clients.delete(key)
          void pooled.client.close()
        }, this.idleMs)
        pooled.timer.unref?.()
      }
    }
  }

  /** Streams open now, one per provider. */
  get size(): number {
    return this.clients.size
  }

  /** Close every stream; requests in flight finish first. */
  async close(): Promise<void> {
    const entries = [...this.clients.values()]
    this.clients.clear()
    await Promise.all(
      entries.map(async (entry) => {
        clearTimeout(entry.timer)
        await entry.client.close()
      }),
    )
  }
}

/** Create a pool of pipelined infer streams owned by the caller; see {@link InferClients}. */
export function createInferClients(node: Pick<RpcNode, 'dialProtocol'>, init: InferClientsInit = {}): InferClients {
  return new InferClients(node, init)
}

/** The pool `infer()` uses, one per node; held weakly, so a node that is dropped takes its pool with it. */
const poolsByNode = new WeakMap<object, InferClients>()

/**
 * Run one inference on a provider over `/parkbench/infer/1.0.0`. Returns the outputs as onnxruntime Tensors; a
 * non-OK status throws its typed error (BusyError, NotAuthorizedError, ModelNotFoundError,
 * InvalidInferenceInputError, TooLargeError, DeadlineExceededError, WorkerCrashedError, InferenceFailedError...).
 * Calls to the same provider from the same node share one pipelined stream (the node's {@link InferClients}: an
 * {@link InferClient} kept while in use and closed after 10 s idle), so concurrent calls never open more streams
 * than a provider accepts; when the peer has no known id (a multiaddr without /p2p/), the call takes a stream of its
 * own. A caller that wants to own (and close) its streams uses {@link createInferClients}.
 *
 * @example
 * ```ts
 * const { outputs } = await infer(node, providerAddr, {
 *   model: sha256Hex,
 *   inputs: { x: new Tensor('float32', new Float32Array([1, 2]), [1, 2]) },
 * })
 * ```
 */
export async function infer(
  node: Pick<RpcNode, 'dialProtocol'>,
  peer: InferPeer,
  parameters: InferParameters,
  options: InferOptions = {},
): Promise<InferResult> {
  let pool = poolsByNode.get(node)
  if (pool === undefined) {
    pool = new InferClients(node)
    poolsByNode.set(node, pool)
  }
  return pool.infer(peer, parameters, options)
}

/** Send one encoded request on a stream of its own and return the OK response, or throw the status's typed error. */
export async function exchange(
  node: Pick<RpcNode, 'dialProtocol'>,
  peer: InferPeer,
  request: InferRequestBody,
  options: InferOptions = {},
): Promise<InferResponse> {
  const client = new InferClient(node, peer, options)
  try {
    const response = await client.request(request, options)
    await client.close(options.signal === undefined ? {} : { signal: options.signal })
    return response
  } catch (err) {
    // One request, one stream: dropping the stream is how the provider learns to stop the job.
    client.abort(err as Error)
    throw err
  }
}
