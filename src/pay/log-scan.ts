import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { type Address, BaseError, type Client, type Hex } from 'viem'
import { getBlockNumber, getContractEvents } from 'viem/actions'
import { toPayError, withSignal } from './actions/internal.js'
import { PAYMENT_CHANNEL_ABI } from './contract/artifact.js'
import type { PaymentStore } from './payment-store.js'

const log = logger('parkbench:pay:log-scan')

/** Store key prefix of the scan cursor, one per contract: `settle/scan/<contract>`. */
export const SCAN_CURSOR_PREFIX = 'settle/scan/'
/** Default blocks per eth_getLogs call: hosted RPCs cap the range at 1,000-10,000 blocks. */
export const DEFAULT_LOG_RANGE_BLOCKS = 1_000
/** Default blocks scanned per pass: a node long offline catches up over several passes. */
export const DEFAULT_MAX_LOG_BLOCKS_PER_PASS = 10_000
/** eth_getLogs calls per pass, failures included, so a misbehaving RPC costs a bounded number of requests. */
export const MAX_LOG_REQUESTS_PER_PASS = 50
/** After this many good chunks in a row a halved chunk doubles again (up to logRangeBlocks). */
const REGROW_AFTER = 64

// JSON-RPC codes hosted RPCs answer an oversized eth_getLogs with: -32005 limit exceeded (Infura, geth-style),
// -32602 invalid params (Alchemy, QuickNode), -32600 invalid request and -32062 (Ankr, some gateways).
const RANGE_CODES = new Set([-32005, -32602, -32600, -32062])
const RANGE_TEXT =
  /range|too many|too large|too wide|too big|limit|exceed|10000|10,000|response size|max(imum)? (number of )?(results|logs|blocks)/i
// Rate limiting also says "limit" (and -32005): it is not fixed by asking for fewer blocks.
const RATE_TEXT = /rate|per second|requests? (count|per)|too many requests|capacity|credits|throughput/i

/**
 * Whether an error says the eth_getLogs range or result set was too large (so a smaller range may work), as viem
 * wraps it: a LimitExceededRpcError / InvalidParamsRpcError (or a plain RpcRequestError) carrying the node's code and
 * message, or an HttpRequestError whose body names the limit. HTTP 429 and rate-limit messages are not range errors.
 */
export function isLogRangeError(err: unknown): boolean {
  const errors: unknown[] = []
  if (err instanceof BaseError) {
    err.walk((e) => {
      errors.push(e)
      return false
    })
  } else {
    for (let e: unknown = err, depth = 0; e != null && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
      errors.push(e)
    }
  }
  let range = false
  for (const e of errors) {
    const { code, status, message, details, shortMessage } = e as Record<string, unknown>
    if (status === 429 || code === 429 || code === -32007) return false
    const text = [message, details, shortMessage].filter((t) => typeof t === 'string').join(' ')
    if (RATE_TEXT.test(text)) return false
    if ((typeof code === 'number' && RANGE_CODES.has(code)) || RANGE_TEXT.test(text)) range = true
  }
  return range
}

export interface CloseRequestScannerComponents {
  /** Any viem client that reads the chain (the settler passes its wallet). */
  client: Client
  /** Where the cursor is kept across restarts. */
  store: PaymentStore
}

export interface CloseRequestScannerInit {
  contract: Address
  /** Where to start when the store holds no cursor (the contract's deploy block); default the current block. */
  fromBlock?: bigint
  /** Blocks per eth_getLogs call; halved whenever the RPC says the range or result is too large. Default 1,000. */
  logRangeBlocks?: number
  /** Blocks scanned per pass at most; default 10,000. */
  maxLogBlocksPerPass?: number
}

export interface CloseRequestScanResult {
  /** Channels (lowercase ids) whose renter requested close in the scanned range. */
  closeRequested: Set<Hex>
  /** The first and last block scanned (toBlock < fromBlock: nothing new). */
  fromBlock: bigint
  toBlock: bigint
  /** The chain's head when the pass started. */
  latest: bigint
  /** Blocks still to scan after this pass (a node catching up). */
  behind: bigint
}

/**
 * Scans `CloseRequested` events in bounded chunks, resuming from a cursor kept in the store. Behind an RPC that
 * caps eth_getLogs it halves the chunk until the RPC answers; it scans at most `maxLogBlocksPerPass` blocks and
 * {@link MAX_LOG_REQUESTS_PER_PASS} calls per pass, and persists how far it got even when a call fails.
 */
export class CloseRequestScanner {
  private readonly client: Client
  private readonly store: PaymentStore
  private readonly contract: Address
  private readonly key: string
  private readonly fromBlock: bigint | undefined
  private readonly maxChunk: bigint
  private readonly maxPerPass: bigint
  private chunk: bigint
  private goodInARow = 0
  private cursor: bigint | undefined
  private loaded = false

  constructor(components: CloseRequestScannerComponents, init: CloseRequestScannerInit) {
    this.client = components.client
    this.store = components.store
    this.contract = init.contract
    this.key = SCAN_CURSOR_PREFIX + init.contract.toLowerCase()
    this.fromBlock = init.fromBlock
    const range = init.logRangeBlocks ?? DEFAULT_LOG_RANGE_BLOCKS
    const perPass = init.maxLogBlocksPerPass ?? DEFAULT_MAX_LOG_BLOCKS_PER_PASS
    if (!Number.isInteger(range) || range < 1) throw new RangeError('logRangeBlocks must be a positive integer')
    if (!Number.isInteger(perPass) || perPass < 1)
      throw new RangeError('maxLogBlocksPerPass must be a positive integer')
    this.maxChunk = BigInt(range)
    this.chunk = this.maxChunk
    this.maxPerPass = BigInt(perPass)
  }

  /** The next block to scan (undefined until the first start or pass has found one). */
  async nextBlock(): Promise<bigint | undefined> {
    await this.load()
    return this.cursor
  }

  /** The blocks per call the scanner uses now (smaller than logRangeBlocks after the RPC refused a range). */
  get chunkBlocks(): bigint {
    return this.chunk
  }

  /**
   * Load the cursor; without one (and without fromBlock), start at the current block, so close requests from now on
   * are seen. Called at start; a pass calls it too if start could not reach the chain.
   */
  async prime(options: AbortOptions = {}): Promise<void> {
    await this.load()
    if (this.cursor != null) return
    const head = await this.head(options)
    this.cursor ??= head
    await this.store.put(this.key, { nextBlock: this.cursor, updatedAt: Date.now() }, options)
  }

  /** One pass: scan from the cursor towards the head, bounded; the cursor is saved however far it got. */
  async scan(options: AbortOptions = {}): Promise<CloseRequestScanResult> {
    await this.load()
    const latest = await this.head(options)
    const start = this.cursor ?? latest
    const end = start + this.maxPerPass - 1n < latest ? start + this.maxPerPass - 1n : latest
    const closeRequested = new Set<Hex>()
    let next = start
    let requests = 0
    try {
      while (next <= end) {
        options.signal?.throwIfAborted()
        if (requests >= MAX_LOG_REQUESTS_PER_PASS) break
        requests++
        const to = next + this.chunk - 1n < end ? next + this.chunk - 1n : end
        let logs: Array<{ args?: unknown }>
        try {
          logs = await withSignal(
            getContractEvents(this.client, {
              address: this.contract,
              abi: PAYMENT_CHANNEL_ABI,
              eventName: 'CloseRequested',
              fromBlock: next,
              toBlock: to,
            }),
            options,
          )
        } catch (err) {
          options.signal?.throwIfAborted()
          if (this.chunk > 1n && isLogRangeError(err)) {
            this.chunk = to - next + 1n > 1n ? (to - next + 1n) / 2n : 1n
            this.goodInARow = 0
            log('eth_getLogs refused %d blocks, trying %d: %s', to - next + 1n, this.chunk, (err as Error).message)
            continue
          }
          throw toPayError(err)
        }
        for (const entry of logs) {
          const id = (entry.args as { channelId?: Hex } | undefined)?.channelId
          if (id != null) closeRequested.add(id.toLowerCase() as Hex)
        }
        next = to + 1n
        if (++this.goodInARow >= REGROW_AFTER && this.chunk < this.maxChunk) {
          this.chunk = this.chunk * 2n < this.maxChunk ? this.chunk * 2n : this.maxChunk
          this.goodInARow = 0
        }
      }
    } finally {
      if (next !== this.cursor) {
        this.cursor = next
        // Not withdrawn on abort: the blocks were scanned.
        await this.store.put(this.key, { nextBlock: next, updatedAt: Date.now() })
      }
    }
    const behind = latest - next + 1n
    return { closeRequested, fromBlock: start, toBlock: next - 1n, latest, behind: behind > 0n ? behind : 0n }
  }

  private async head(options: AbortOptions): Promise<bigint> {
    try {
      // Checked before the call: withSignal would leave an already-aborted call's promise unhandled.
      options.signal?.throwIfAborted()
      return await withSignal(getBlockNumber(this.client, { cacheTime: 0 }), options)
    } catch (err) {
      throw toPayError(err)
    }
  }

  private async load(): Promise<void> {
    if (this.loaded) return
    const saved = await this.store.get<{ nextBlock: bigint }>(this.key)
    this.cursor = saved?.nextBlock ?? this.cursor ?? this.fromBlock
    this.loaded = true
  }
}
