import { chmod, unlink } from 'node:fs/promises'
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { DATA_DIR_LAYOUT } from '../data-dir.js'
import { InvalidInputError, ParkbenchError } from '../errors.js'
import { toJson } from '../json.js'

const log = logger('parkbench:daemon:control')

/** The daemon's control socket, inside its data dir: HTTP/1.1 + JSON, reachable only by the data dir's owner. */
export const CONTROL_SOCKET = DATA_DIR_LAYOUT.controlSocket

/** Limits of the control API; also in protocols/README.md. */
export const CONTROL_LIMITS = {
  /** Largest request body; a larger Content-Length is answered 413 before the body is read. */
  maxBodyBytes: 4096,
  /** A request (headers and body together) must arrive whole within this long of its connection, else 408. */
  requestTimeoutMs: 10_000,
  /**
   * Connections at once. A newcomer past it evicts the oldest connection not being answered (a half-sent request or
   * an idle keep-alive); when every one is being answered it is told 503 at once.
   */
  maxConnections: 32,
  /** How often node:http checks its deadlines (its default, 30 s, made a 10 s deadline 10-40 s). */
  deadlineCheckMs: 250,
} as const

/** No daemon answers on this data dir's control socket. */
export class DaemonNotRunningError extends ParkbenchError {
  static override name = 'DaemonNotRunningError'
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, 'DAEMON_NOT_RUNNING', options)
  }
}

/** Another daemon already runs on this data dir. */
export class DaemonRunningError extends ParkbenchError {
  static override name = 'DaemonRunningError'
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, 'DAEMON_RUNNING', options)
  }
}

/** A request body (declared or sent) over {@link CONTROL_LIMITS}.maxBodyBytes: HTTP 413. */
export class ControlBodyTooLargeError extends ParkbenchError {
  static override name = 'ControlBodyTooLargeError'
  constructor(message = `Request body over ${CONTROL_LIMITS.maxBodyBytes} bytes`, options: ErrorOptions = {}) {
    super(message, 'BODY_TOO_LARGE', options)
  }
}

/** The daemon answered a control request with an error; `code` is the daemon's error code. */
export class ControlRequestError extends ParkbenchError {
  static override name = 'ControlRequestError'
  readonly status: number
  constructor(message: string, code: string, status: number) {
    super(message, code)
    this.status = status
  }
}

/** One route of the control API: gets the parsed query and JSON body, returns what is sent back as JSON. */
export type ControlRoute = (request: { query: URLSearchParams; body: unknown }) => Promise<unknown>

export interface ControlServer {
  readonly path: string
  close(): Promise<void>
}

function send(res: ServerResponse, status: number, value: unknown, close = false): void {
  const body = `${toJson(value)}\n`
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...(close ? { connection: 'close' } : {}),
  })
  res.end(body)
}

/** An answer written straight to a socket the HTTP server never got to (a refused connection), then closed. */
function sendRaw(socket: Socket, status: number, reason: string, value: unknown): void {
  const body = `${toJson(value)}\n`
  const head = `HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-type: application/json\r\n`
  socket.end(`${head}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, () => socket.destroy())
}

/**
 * A request's JSON body (undefined when empty), read up to `maxBytes`: past it {@link ControlBodyTooLargeError}, and
 * a body that is no JSON an {@link InvalidInputError}. The control socket and the owner console read bodies so.
 */
export async function readJsonBody(req: IncomingMessage, maxBytes = CONTROL_LIMITS.maxBodyBytes): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > maxBytes) throw new ControlBodyTooLargeError()
    chunks.push(chunk as Buffer)
  }
  if (size === 0) return undefined
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch (err) {
    throw new InvalidInputError('Request body is not JSON', { cause: err })
  }
}

async function isAnswering(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/**
 * Serve `routes` (keyed `GET /v1/status`) on the unix socket `<dataDir>/control.sock`, mode 0600. A socket left by
 * a daemon that was killed is replaced; one a live daemon answers on is not ({@link DaemonRunningError}).
 */
export async function startControlServer(
  dataDir: string,
  routes: Record<string, ControlRoute>,
): Promise<ControlServer> {
  const path = join(dataDir, CONTROL_SOCKET)
  // sun_path holds 108 bytes on Linux, 104 on macOS.
  if (Buffer.byteLength(path) > 103) throw new InvalidInputError(`Socket path too long for a unix socket: ${path}`)
  // The connections open, oldest first, and how many requests each has being answered (its body read in full).
  const connections = new Map<Socket, { answering: number }>()
  const server: Server = createServer(
    {
      requestTimeout: CONTROL_LIMITS.requestTimeoutMs,
      headersTimeout: CONTROL_LIMITS.requestTimeoutMs,
      connectionsCheckingInterval: CONTROL_LIMITS.deadlineCheckMs,
    },
    (req, res) => {
      // A target that is no URL (e.g. `//%qf`) is a bad request, never an exception in the listener.
      const url = URL.canParse(req.url ?? '/', 'http://parkbench')
        ? new URL(req.url ?? '/', 'http://parkbench')
        : undefined
      if (url === undefined) {
        send(res, 400, { error: { code: 'BAD_REQUEST', message: 'The request target is not a URL path' } })
        return
      }
      const declared = Number(req.headers['content-length'] ?? 0)
      if (declared > CONTROL_LIMITS.maxBodyBytes) {
        // Answered before any of the body is read; the connection closes rather than swallow it.
        send(res, 413, { error: { code: 'BODY_TOO_LARGE', message: new ControlBodyTooLargeError().message } }, true)
        return
      }
      const route = routes[`${req.method} ${url.pathname}`]
      if (route == null) {
        send(res, 404, { error: { code: 'NOT_FOUND', message: `No route ${req.method} ${url.pathname}` } })
        return
      }
      const connection = connections.get(req.socket)
      readJsonBody(req)
        .then(async (body) => {
          // Whole: from now on the connection is being answered and is never evicted for a newcomer.
          if (connection !== undefined) {
            connection.answering++
            res.once('close', () => connection.answering--)
          }
          return route({ query: url.searchParams, body })
        })
        .then((value) => send(res, 200, value))
        .catch((err: Error) => {
          const code = err instanceof ParkbenchError ? err.code : 'INTERNAL'
          const tooLarge = err instanceof ControlBodyTooLargeError
          const status = tooLarge ? 413 : err instanceof InvalidInputError ? 400 : 500
          if (status === 500) log.error('control %s %s failed - %e', req.method, url.pathname, err)
          send(res, status, { error: { code, message: err.message } }, tooLarge)
        })
    },
  )
  server.on('connection', (socket: Socket) => {
    if (connections.size >= CONTROL_LIMITS.maxConnections) {
      // A slow loris holding every slot must not starve a well-formed request: the oldest connection that is not
      // being answered makes room. When all are, the newcomer is told so at once.
      const idle = [...connections].find(([, c]) => c.answering === 0)?.[0]
      if (idle === undefined) {
        sendRaw(socket, 503, 'Service Unavailable', {
          error: {
            code: 'CONTROL_BUSY',
            message: `All ${CONTROL_LIMITS.maxConnections} connections are being answered`,
          },
        })
        return
      }
      connections.delete(idle)
      idle.destroy()
    }
    connections.set(socket, { answering: 0 })
    socket.once('close', () => connections.delete(socket))
  })
  const listen = async (): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(path, () => {
        server.off('error', reject)
        resolve()
      })
    })
  try {
    await listen()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
    if (await isAnswering(path)) throw new DaemonRunningError(`A daemon is already running on ${dataDir}`)
    await unlink(path)
    await listen()
  }
  await chmod(path, 0o600)
  return {
    path,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/**
 * Call the daemon running on `dataDir`: `controlRequest(dir, 'GET', '/v1/leases')`. Throws
 * {@link DaemonNotRunningError} if none is, {@link ControlRequestError} with the daemon's code if it refuses.
 */
export async function controlRequest<T = unknown>(
  dataDir: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  options: AbortOptions = {},
): Promise<T> {
  const socketPath = join(dataDir, CONTROL_SOCKET)
  const payload = body === undefined ? undefined : toJson(body, 0)
  return new Promise<T>((resolve, reject) => {
    const req = request(
      {
        socketPath,
        // A fresh connection per request: a pooled one may outlive the daemon that answered it.
        agent: false,
        method,
        path,
        signal: options.signal ?? AbortSignal.timeout(60_000),
        headers: payload === undefined ? {} : { 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => {
          let parsed: { error?: { code: string; message: string } }
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'))
          } catch (err) {
            reject(new ControlRequestError(`The daemon sent a reply that is not JSON`, 'CONTROL_PROTOCOL', 502))
            log('bad control reply - %s', (err as Error).message)
            return
          }
          if ((res.statusCode ?? 500) >= 400) {
            const e = parsed.error ?? { code: 'CONTROL_ERROR', message: `HTTP ${res.statusCode}` }
            reject(new ControlRequestError(e.message, e.code, res.statusCode ?? 500))
            return
          }
          resolve(parsed as T)
        })
      },
    )
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(new DaemonNotRunningError(`No daemon is running on ${dataDir} (start one with \`parkbench start\`)`))
      } else reject(err)
    })
    if (payload !== undefined) req.write(payload)
    req.end()
  })
}
