import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * What the proxy does with eth_getLogs: forward it, refuse a span of more than N blocks the way hosted RPCs do
 * (`-32005 query exceeds max block range N`), fail every one (`-32603`), answer every one with a given JSON-RPC
 * error, or with an HTTP status and body.
 */
export type GetLogsMode =
  | 'forward'
  | 'fail'
  | { maxBlocks: number }
  | { error: { code: number; message: string } }
  | { httpStatus: number; body: string }

export interface GetLogsCall {
  fromBlock: bigint
  toBlock: bigint
  refused: boolean
}

export interface RpcProxy {
  url: string
  /** Mutable: switch modes between steps of a test. */
  getLogs: GetLogsMode
  /** While true, eth_getTransactionReceipt fails (-32603): a sender never sees its transaction confirmed. */
  failReceipts: boolean
  /** Every eth_getLogs the proxy saw, in order. */
  calls: GetLogsCall[]
  close(): Promise<void>
}

interface RpcRequest {
  jsonrpc: '2.0'
  id: number | string | null
  method: string
  params?: unknown[]
}

/** Thrown inside the proxy to answer with an HTTP status instead of JSON-RPC. */
class HttpAnswer extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(body)
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * A JSON-RPC reverse proxy on 127.0.0.1 in front of anvil: the RPC a hosted provider would be, with its limits.
 *
 * @example
 * const proxy = await startRpcProxy(chain.rpcUrl, { maxBlocks: 100 })
 * const wallet = createPayWalletClient({ rpcUrl: proxy.url, chainId }, account)
 */
export async function startRpcProxy(target: string, getLogs: GetLogsMode = 'forward'): Promise<RpcProxy> {
  const proxy: RpcProxy = { url: '', getLogs, failReceipts: false, calls: [], close: async () => {} }
  const forward = async (request: RpcRequest): Promise<unknown> => {
    const res = await fetch(target, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request),
    })
    return res.json()
  }
  const blockNumber = async (tag: unknown): Promise<bigint> => {
    if (typeof tag === 'string' && tag.startsWith('0x')) return BigInt(tag)
    if (tag === 'earliest') return 0n
    const head = (await forward({ jsonrpc: '2.0', id: 0, method: 'eth_blockNumber', params: [] })) as { result: string }
    return BigInt(head.result)
  }
  const answer = async (request: RpcRequest): Promise<unknown> => {
    if (request.method === 'eth_getLogs') {
      const filter = (request.params?.[0] ?? {}) as { fromBlock?: unknown; toBlock?: unknown }
      const fromBlock = await blockNumber(filter.fromBlock ?? 'latest')
      const toBlock = await blockNumber(filter.toBlock ?? 'latest')
      const mode = proxy.getLogs
      const refused =
        mode === 'fail' ||
        (typeof mode === 'object' && (!('maxBlocks' in mode) || toBlock - fromBlock + 1n > BigInt(mode.maxBlocks)))
      proxy.calls.push({ fromBlock, toBlock, refused })
      if (typeof mode === 'object' && 'error' in mode) return { jsonrpc: '2.0', id: request.id, error: mode.error }
      if (typeof mode === 'object' && 'httpStatus' in mode) throw new HttpAnswer(mode.httpStatus, mode.body)
      if (mode === 'fail') {
        return {
          jsonrpc: '2.0',
          id: request.id,
          error: { code: -32603, message: 'internal error: upstream unavailable' },
        }
      }
      if (refused && typeof mode === 'object' && 'maxBlocks' in mode) {
        return {
          jsonrpc: '2.0',
          id: request.id,
          error: { code: -32005, message: `query exceeds max block range ${mode.maxBlocks}` },
        }
      }
    }
    if (request.method === 'eth_getTransactionReceipt' && proxy.failReceipts) {
      return {
        jsonrpc: '2.0',
        id: request.id,
        error: { code: -32603, message: 'internal error: receipts unavailable' },
      }
    }
    return forward(request)
  }
  const server = createServer((req, res) => {
    readBody(req)
      .then(async (text) => {
        const body = JSON.parse(text) as RpcRequest | RpcRequest[]
        const out = Array.isArray(body) ? await Promise.all(body.map(answer)) : await answer(body)
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify(out))
      })
      .catch((err: Error) => {
        res.writeHead(err instanceof HttpAnswer ? err.status : 502, { 'content-type': 'text/plain' })
        res.end(err.message)
      })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  proxy.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return proxy
}
