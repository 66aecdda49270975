import { timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { logger } from '@libp2p/logger'
import { InvalidInputError, ParkbenchError } from '../../errors.js'
import { toJson } from '../../json.js'
import { ControlBodyTooLargeError, readJsonBody } from '../control.js'

const log = logger('parkbench:daemon:console')

/** Limits of the console's HTTP server (the same as the control socket's; documented in docs/console.md). */
export const CONSOLE_LIMITS = {
  /** Largest request body; a larger one is answered 413. */
  maxBodyBytes: 4096,
  /** A request (headers and body) must arrive whole within this long, else 408. */
  requestTimeoutMs: 10_000,
  /** Connections at once; more are refused by the kernel backlog until one closes. */
  maxConnections: 64,
  /** How often node:http checks its deadlines. */
  deadlineCheckMs: 250,
} as const

/** The console port when `--console-port` is not given. */
export const DEFAULT_CONSOLE_PORT = 8470

/** Names a browser on this machine uses for loopback: the only Host headers answered unless a host is asked for. */
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]']

/** A console request without the token, or with a wrong one: HTTP 401, no data. */
export class ConsoleUnauthorizedError extends ParkbenchError {
  static override name = 'ConsoleUnauthorizedError'
  constructor(
    message = 'This route needs the console token: Authorization: Bearer <token>',
    options: ErrorOptions = {},
  ) {
    super(message, 'UNAUTHORIZED', options)
  }
}

/** One API route: gets the query and the JSON body, returns what is sent back as JSON. */
export type ConsoleRoute = (request: { query: URLSearchParams; body: unknown }) => Promise<unknown>

export interface ConsoleServerInit {
  /** The token every data route and action needs. */
  token: string
  /** Default 127.0.0.1. Anything else only when the owner asks for it (`--console-host`). */
  host?: string
  /** Default {@link DEFAULT_CONSOLE_PORT}; 0 picks a free port (tests). */
  port?: number
  /** `GET /api/v1/state`, `POST /api/v1/pause`, ...: keyed `METHOD /path`. */
  routes: Record<string, ConsoleRoute>
  /** `GET /metrics`: the Prometheus text exposition. */
  metrics?: () => Promise<{ contentType: string; body: string }>
}

export interface ConsoleServer {
  /** `http://127.0.0.1:8470/` */
  readonly url: string
  readonly host: string
  readonly port: number
  /** The URL with the token, as `parkbench start` and `parkbench console` print it. */
  urlWithToken(): string
  close(): Promise<void>
}

interface Asset {
  type: string
  body: Buffer
}

const ASSETS_DIR = fileURLToPath(new URL('../../../../src/daemon/console/assets/', import.meta.url))

/** The page, its script and style, and uPlot's, read once from the package (no CDN, no build step). */
async function loadAssets(): Promise<Map<string, Asset>> {
  const require = createRequire(import.meta.url)
  const files: Array<[string, string, string]> = [
    ['/', `${ASSETS_DIR}index.html`, 'text/html; charset=utf-8'],
    ['/assets/console.js', `${ASSETS_DIR}console.js`, 'text/javascript; charset=utf-8'],
    ['/assets/console.css', `${ASSETS_DIR}console.css`, 'text/css; charset=utf-8'],
    ['/assets/uPlot.js', require.resolve('uplot/dist/uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
    ['/assets/uPlot.css', require.resolve('uplot/dist/uPlot.min.css'), 'text/css; charset=utf-8'],
  ]
  const assets = new Map<string, Asset>()
  for (const [path, file, type] of files) assets.set(path, { type, body: await readFile(file) })
  return assets
}

/** Only the page's own files run; it talks only to this server and cannot be framed by another site. */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
}

function sendJson(res: ServerResponse, status: number, value: unknown, extra: Record<string, string> = {}): void {
  const body = `${toJson(value)}\n`
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...PAGE_HEADERS,
    ...extra,
  })
  res.end(body)
}

function sendError(res: ServerResponse, status: number, code: string, message: string, close = false): void {
  sendJson(
    res,
    status,
    { error: { code, message } },
    {
      ...(status === 401 ? { 'www-authenticate': 'Bearer realm="parkbench console"' } : {}),
      ...(close ? { connection: 'close' } : {}),
    },
  )
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer ([A-Za-z0-9_-]{1,200})$/.exec(header ?? '')
  if (match == null) return false
  const given = Buffer.from(match[1]!)
  const wanted = Buffer.from(token)
  return given.length === wanted.length && timingSafeEqual(given, wanted)
}

/**
 * Serve the owner console: the page and its assets to anyone on loopback (they hold no data), and every data route,
 * action and `/metrics` only with the token in an `Authorization: Bearer` header. Requests whose Host header is not a
 * loopback name (or the host asked for) are refused, which stops DNS rebinding; actions are POST with a JSON body and
 * the header, which a page on another site cannot send without a CORS preflight this server never answers.
 */
export async function startConsoleServer(init: ConsoleServerInit): Promise<ConsoleServer> {
  const host = init.host ?? '127.0.0.1'
  const assets = await loadAssets()
  let allowedHosts = new Set<string>()
  const server: Server = createServer(
    {
      requestTimeout: CONSOLE_LIMITS.requestTimeoutMs,
      headersTimeout: CONSOLE_LIMITS.requestTimeoutMs,
      connectionsCheckingInterval: CONSOLE_LIMITS.deadlineCheckMs,
    },
    (req, res) => {
      handle(req, res).catch((err: Error) => {
        log.error('console %s %s failed - %e', req.method, req.url, err)
        if (!res.headersSent) sendError(res, 500, 'INTERNAL', 'Internal error')
        else res.destroy()
      })
    },
  )
  server.maxConnections = CONSOLE_LIMITS.maxConnections

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!allowedHosts.has((req.headers.host ?? '').toLowerCase())) {
      sendError(res, 421, 'BAD_HOST', 'The Host header is not this console (open it at its loopback URL)')
      return
    }
    const url = URL.canParse(req.url ?? '/', 'http://console') ? new URL(req.url ?? '/', 'http://console') : undefined
    if (url === undefined) {
      sendError(res, 400, 'BAD_REQUEST', 'The request target is not a URL path')
      return
    }
    const asset = req.method === 'GET' ? assets.get(url.pathname) : undefined
    if (asset !== undefined) {
      res.writeHead(200, {
        'content-type': asset.type,
        'content-length': asset.body.length,
        'cache-control': 'no-cache',
        ...PAGE_HEADERS,
      })
      res.end(asset.body)
      return
    }
    const isMetrics = url.pathname === '/metrics' && req.method === 'GET' && init.metrics !== undefined
    const route = init.routes[`${req.method} ${url.pathname}`]
    if (!isMetrics && route === undefined) {
      sendError(res, 404, 'NOT_FOUND', `No route ${req.method} ${url.pathname}`)
      return
    }
    // Checked before anything is read or computed: no token, no data.
    if (!tokenMatches(req.headers.authorization, init.token)) {
      sendError(res, 401, 'UNAUTHORIZED', new ConsoleUnauthorizedError().message)
      return
    }
    if (Number(req.headers['content-length'] ?? 0) > CONSOLE_LIMITS.maxBodyBytes) {
      sendError(res, 413, 'BODY_TOO_LARGE', `Request body over ${CONSOLE_LIMITS.maxBodyBytes} bytes`, true)
      return
    }
    if (isMetrics) {
      const { contentType, body } = await init.metrics!()
      res.writeHead(200, {
        'content-type': contentType,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      })
      res.end(body)
      return
    }
    if (req.method === 'POST') {
      const origin = req.headers.origin
      if (origin !== undefined && !allowedHosts.has(origin.replace(/^http:\/\//, '').toLowerCase())) {
        sendError(res, 403, 'BAD_ORIGIN', 'Actions are taken only from the console itself')
        return
      }
      if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) {
        sendError(res, 415, 'BAD_CONTENT_TYPE', 'Actions take a JSON body (Content-Type: application/json)')
        return
      }
    }
    let body: unknown
    try {
      body = await readJsonBody(req, CONSOLE_LIMITS.maxBodyBytes)
      sendJson(res, 200, await route!({ query: url.searchParams, body }))
    } catch (err) {
      const code = err instanceof ParkbenchError ? err.code : 'INTERNAL'
      // A typed refusal (e.g. NO_PAYMENT_TERMS: pausing a daemon that does not sell) is the daemon's state, not a fault.
      const tooLarge = err instanceof ControlBodyTooLargeError
      const status = tooLarge ? 413 : err instanceof InvalidInputError ? 400 : err instanceof ParkbenchError ? 409 : 500
      if (status === 500) log.error('console %s %s failed - %e', req.method, url.pathname, err)
      sendError(res, status, code, (err as Error).message, tooLarge)
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(init.port ?? DEFAULT_CONSOLE_PORT, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const urlHost = host.includes(':') ? `[${host}]` : host
  // The loopback names always (the console is reachable from this machine whatever it listens on), and the host
  // asked for; nothing else, so a DNS name that rebinds to 127.0.0.1 is refused.
  allowedHosts = new Set([...LOOPBACK_NAMES, urlHost].map((name) => `${name}:${port}`.toLowerCase()))
  const url = `http://${urlHost}:${port}/`
  log('console on %s', url)
  return {
    url,
    host,
    port,
    urlWithToken: () => `${url}#token=${init.token}`,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
