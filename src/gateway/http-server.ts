import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { logger } from '@libp2p/logger'
import { GatewayBusyError, InvalidOipRequestError, PayloadTooLargeError, RouteNotFoundError } from './errors.js'
import type { Gateway } from './gateway.js'
import { errorAnswer, type HttpAnswer, inferResponse } from './oip-response.js'
import { oipDatatype, parseInferRequest } from './oip-tensors.js'

const log = logger('parkbench:gateway:http')

/** The default port of `parkbench gateway`. */
export const GATEWAY_PORT = 8480

export interface GatewayHttpInit {
  /** Default 127.0.0.1: the gateway spends the owner's money, so it listens on loopback unless told otherwise. */
  host?: string
  /** Default {@link GATEWAY_PORT}; 0 picks a free one. */
  port?: number
  /** Largest request body, in bytes. Default 64 MiB. */
  maxBodyBytes?: number
  /** Largest header block, in bytes. Default 16 KiB. */
  maxHeaderBytes?: number
  /** Longest a whole request (receiving it included) may take, in ms. Default 120 s. */
  requestTimeoutMs?: number
  /** Connections open at once. Default 256. */
  maxConnections?: number
  /** The version `/v2` reports. */
  version?: string
}

/** The Open Inference Protocol's REST API over a {@link Gateway}. */
export class GatewayHttpServer {
  private readonly server: Server
  private readonly gateway: Gateway
  private readonly init: GatewayHttpInit
  private readonly maxBody: number
  private receiving = 0

  constructor(gateway: Gateway, init: GatewayHttpInit = {}) {
    this.gateway = gateway
    this.init = init
    this.maxBody = init.maxBodyBytes ?? 64 * 1024 * 1024
    this.server = createServer(
      { maxHeaderSize: init.maxHeaderBytes ?? 16 * 1024, requestTimeout: init.requestTimeoutMs ?? 120_000 },
      (req, res) => {
        this.handle(req, res).catch((err: Error) => {
          log.error('request failed - %e', err)
          if (!res.headersSent) send(res, errorAnswer(err))
          else res.destroy()
        })
      },
    )
    this.server.headersTimeout = 10_000
    this.server.keepAliveTimeout = 5_000
    // Bounds the sockets half-sent requests can hold: past this many, Node closes a new connection at once.
    this.server.maxConnections = init.maxConnections ?? 256
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.init.port ?? GATEWAY_PORT, this.init.host ?? '127.0.0.1', () => {
        this.server.off('error', reject)
        resolve()
      })
    })
  }

  async stop(): Promise<void> {
    this.server.closeIdleConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  /** Where it listens, e.g. `http://127.0.0.1:8480`. */
  get url(): string {
    const a = this.server.address() as AddressInfo
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!
    const parts = path.split('/').filter((p) => p !== '')
    if (parts[0] !== 'v2') return send(res, errorAnswer(new RouteNotFoundError(`No route ${path}`)), req)
    const method = req.method ?? 'GET'
    const only = (allowed: string): void => {
      if (method !== allowed) throw new RouteNotFoundError(`${path} takes ${allowed}`, 405)
    }
    try {
      if (parts.length === 1) {
        only('GET')
        return send(
          res,
          json(200, { name: 'parkbench', version: this.init.version ?? 'unknown', extensions: ['binary_tensor_data'] }),
        )
      }
      if (parts[1] === 'health' && (parts[2] === 'live' || parts[2] === 'ready') && parts.length === 3) {
        only('GET')
        return send(res, { status: 200, headers: {}, body: '' })
      }
      if (parts[1] === 'models' && parts.length >= 3) {
        let name: string
        try {
          name = decodeURIComponent(parts[2]!)
        } catch (err) {
          throw new InvalidOipRequestError(`Bad model name in ${path}`, { cause: err })
        }
        // /v2/models/{m}[/versions/{v}]/...: the version is the model's sha256; any version names the model.
        const rest = parts[3] === 'versions' ? parts.slice(5) : parts.slice(3)
        if (rest.length === 0) {
          only('GET')
          return send(res, json(200, await this.metadata(name)))
        }
        if (rest.length === 1 && rest[0] === 'ready') {
          only('GET')
          await this.metadata(name)
          return send(res, { status: 200, headers: {}, body: '' })
        }
        if (rest.length === 1 && rest[0] === 'infer') {
          only('POST')
          return send(res, await this.infer(name, req), req)
        }
      }
      throw new RouteNotFoundError(`No route ${path}`)
    } catch (err) {
      send(res, errorAnswer(err), req)
    }
  }

  private async metadata(name: string): Promise<Record<string, unknown>> {
    const model = this.gateway.models.resolve(name)
    const signature = await this.gateway.models.signature(model, this.gateway.client)
    const spec = (t: { name: string; dtype: string; dims: Array<number | string> }) => ({
      name: t.name,
      datatype: t.dtype === 'non-tensor' ? 'NON_TENSOR' : oipDatatype(t.dtype),
      shape: t.dims.map((d) => (typeof d === 'number' ? d : -1)),
    })
    return {
      name: model.name,
      versions: [model.sha256],
      platform: 'onnxruntime_onnx',
      inputs: signature.inputs.map(spec),
      outputs: signature.outputs.map(spec),
    }
  }

  private async infer(name: string, req: IncomingMessage): Promise<HttpAnswer> {
    const token = apiKeyOf(req)
    // Who may spend, and whether there is room, is checked before the body is read.
    await this.gateway.keys.authenticate(token)
    // Bodies being received count against the limit too: it bounds the memory they hold.
    if (this.gateway.busy(this.receiving)) throw new GatewayBusyError()
    const headerField = req.headers['inference-header-content-length']
    let headerLength: number | undefined
    if (headerField != null) {
      if (typeof headerField !== 'string' || !/^\d{1,12}$/.test(headerField)) {
        throw new InvalidOipRequestError('Inference-Header-Content-Length must be a whole number')
      }
      headerLength = Number(headerField)
    }
    this.receiving++
    let body: Buffer
    try {
      body = await readBody(req, this.maxBody)
    } finally {
      this.receiving--
    }
    const request = parseInferRequest(body, headerLength)
    const outputNames = request.outputs.map((o) => o.name)
    const result = await this.gateway.infer(token, name, { inputs: request.inputs, outputNames })
    return inferResponse(result, request)
  }
}

/** The key from `Authorization: Bearer KEY` or `X-Api-Key: KEY`. */
function apiKeyOf(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization
  if (typeof auth === 'string' && auth.toLowerCase().startsWith('bearer ')) return auth.slice(7).trim()
  const key = req.headers['x-api-key']
  return typeof key === 'string' ? key.trim() : undefined
}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = req.headers['content-length']
  if (declared != null && Number(declared) > max) {
    throw new PayloadTooLargeError(`The body is ${declared} bytes, over the gateway's limit of ${max}`)
  }
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of req) {
    total += (chunk as Buffer).byteLength
    if (total > max) throw new PayloadTooLargeError(`The body is over the gateway's limit of ${max} bytes`)
    chunks.push(chunk as Buffer)
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
}

function json(status: number, value: unknown): HttpAnswer {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) }
}

function send(res: ServerResponse, answer: HttpAnswer, req?: IncomingMessage): void {
  if (res.headersSent) return
  const body = typeof answer.body === 'string' ? Buffer.from(answer.body, 'utf8') : answer.body
  const headers: Record<string, string | number> = { ...answer.headers, 'content-length': body.byteLength }
  // A request whose body was not read to the end (refused early) closes its connection rather than desync it.
  if (req != null && !req.complete) headers.connection = 'close'
  res.writeHead(answer.status, headers)
  res.end(body)
  if (req != null && !req.complete) req.resume()
}

/** Build the HTTP server over a gateway (call `start()` to listen). */
export function createGatewayHttpServer(gateway: Gateway, init: GatewayHttpInit = {}): GatewayHttpServer {
  return new GatewayHttpServer(gateway, init)
}
