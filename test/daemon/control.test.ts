import assert from 'node:assert/strict'
import { mkdtemp, stat, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  CONTROL_LIMITS,
  CONTROL_SOCKET,
  type ControlRequestError,
  controlRequest,
  DaemonNotRunningError,
  DaemonRunningError,
  startControlServer,
} from '../../src/daemon/control.js'
import { InvalidInputError } from '../../src/errors.js'

/** A raw POST, for bodies controlRequest would never send. */
async function rawPost(socketPath: string, path: string, body: string): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method: 'POST', path }, (res) => {
      let text = ''
      res.on('data', (d) => {
        text += String(d)
      })
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** A raw connection to the socket: what it was sent back, and once it closed, when. */
interface RawConnection {
  socket: Socket
  answer(): string
  closed: Promise<number>
}

function rawConnect(socketPath: string, bytes: string): RawConnection {
  const socket = connect(socketPath)
  const openedAt = performance.now()
  let text = ''
  socket.on('data', (d) => {
    text += String(d)
  })
  socket.on('error', () => {})
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now() - openedAt)))
  socket.write(bytes)
  return { socket, answer: () => text, closed }
}

/** Resolve with `promise`, or reject once `ms` have passed. */
async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

const statusOf = (answer: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)

describe('daemon control socket', () => {
  it('answers routes as JSON (bigints as strings), owner-only, and refuses bad requests with typed errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pb-control-'))
    const server = await startControlServer(dir, {
      'GET /v1/thing': async ({ query }) => ({ amount: 10n ** 20n, echo: query.get('x') }),
      'POST /v1/echo': async ({ body }) => {
        if ((body as { bad?: boolean })?.bad === true) throw new InvalidInputError('bad thing')
        return { body }
      },
    })
    try {
      assert.equal((await stat(server.path)).mode & 0o777, 0o600)
      assert.deepEqual(await controlRequest(dir, 'GET', '/v1/thing?x=1'), {
        amount: '100000000000000000000',
        echo: '1',
      })
      assert.deepEqual(await controlRequest(dir, 'POST', '/v1/echo', { a: 1n }), { body: { a: '1' } })
      await assert.rejects(
        controlRequest(dir, 'POST', '/v1/echo', { bad: true }),
        (err: ControlRequestError) => err.code === 'INVALID_INPUT' && err.status === 400,
      )
      await assert.rejects(
        controlRequest(dir, 'GET', '/v1/nothing'),
        (err: ControlRequestError) => err.code === 'NOT_FOUND' && err.status === 404,
      )
      const notJson = await rawPost(server.path, '/v1/echo', '{nope')
      assert.equal(notJson.status, 400)
      assert.equal(notJson.json.error.code, 'INVALID_INPUT')
      // An oversized body is cut off (413 for its Content-Length, or the connection closed mid-write), and the
      // server carries on.
      const huge = await rawPost(
        server.path,
        '/v1/echo',
        JSON.stringify({ x: 'y'.repeat(CONTROL_LIMITS.maxBodyBytes * 16) }),
      ).catch((err: NodeJS.ErrnoException) => ({ status: err.code, json: undefined }))
      assert.ok([413, 'EPIPE', 'ECONNRESET'].includes(huge.status as number | string), String(huge.status))
      assert.deepEqual(await controlRequest(dir, 'GET', '/v1/thing'), { amount: '100000000000000000000', echo: null })
      // A request target that is no URL is a bad request (it once threw in the listener and killed the daemon).
      const notUrl = rawConnect(server.path, 'GET //%qf HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
      await within(5_000, notUrl.closed, 'the answer to a target that is no URL')
      assert.equal(statusOf(notUrl.answer()), 400)
      assert.deepEqual(await controlRequest(dir, 'GET', '/v1/thing'), { amount: '100000000000000000000', echo: null })
      // A second daemon on the same data dir is refused while the first answers.
      await assert.rejects(startControlServer(dir, {}), DaemonRunningError)
    } finally {
      await server.close()
    }
    await assert.rejects(controlRequest(dir, 'GET', '/v1/thing'), DaemonNotRunningError)
  })

  it('replaces a socket left behind by a daemon killed -9', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pb-control-'))
    // The file a killed daemon leaves behind: nobody listens on it.
    await writeFile(join(dir, CONTROL_SOCKET), '')
    const server = await startControlServer(dir, { 'GET /v1/ok': async () => ({ ok: true }) })
    try {
      assert.deepEqual(await controlRequest(dir, 'GET', '/v1/ok'), { ok: true })
    } finally {
      await server.close()
    }
  })

  it('holds every request to its 10 s, refuses an oversized Content-Length at once, and a slow loris on every slot starves nobody', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pb-control-'))
    let release: () => void = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const server = await startControlServer(dir, {
      'GET /v1/status': async () => ({ ok: true }),
      'GET /v1/held': async () => held.then(() => ({ ok: true })),
      'POST /v1/echo': async ({ body }) => ({ body }),
    })
    try {
      // More half-sent requests than there are connection slots, each in a different way.
      const loris = Array.from({ length: CONTROL_LIMITS.maxConnections + 8 }, (_, i) =>
        rawConnect(
          server.path,
          i % 2 === 0
            ? 'GET /v1/status HTTP/1.1\r\nHost: x\r\n'
            : 'POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":',
        ),
      )
      await new Promise((r) => setTimeout(r, 200))
      // A well-formed request is answered meanwhile.
      assert.deepEqual(
        await within(3_000, controlRequest(dir, 'GET', '/v1/status'), 'GET /v1/status beside the slow loris'),
        { ok: true },
      )
      // A body that claims to be over the limit is refused before a byte of it is sent.
      const claim = rawConnect(
        server.path,
        `POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`,
      )
      await within(3_000, claim.closed, 'Content-Length: 100000 refused')
      assert.equal(statusOf(claim.answer()), 413)
      assert.equal(
        JSON.parse(claim.answer().slice(claim.answer().indexOf('\r\n\r\n') + 4)).error.code,
        'BODY_TOO_LARGE',
      )
      // Every half-sent request is cut off within the deadline (headers and body together), evicted or timed out.
      const ages = await within(
        CONTROL_LIMITS.requestTimeoutMs + 2_000,
        Promise.all(loris.map((l) => l.closed)),
        'slow loris closed',
      )
      assert.ok(
        Math.max(...ages) <= CONTROL_LIMITS.requestTimeoutMs + 1_000,
        `oldest lasted ${Math.round(Math.max(...ages))} ms`,
      )
      assert.ok(loris.every((l) => [0, 408, 503].includes(statusOf(l.answer()))))
      assert.ok(loris.some((l) => statusOf(l.answer()) === 408))
      // Requests being answered are never evicted: with every slot answering, a newcomer is told so at once.
      const answering = Array.from({ length: CONTROL_LIMITS.maxConnections }, () =>
        controlRequest(dir, 'GET', '/v1/held'),
      )
      await new Promise((r) => setTimeout(r, 200))
      await assert.rejects(
        within(3_000, controlRequest(dir, 'GET', '/v1/status'), 'refusal with every slot answering'),
        (err: ControlRequestError) => err.status === 503 && err.code === 'CONTROL_BUSY',
      )
      release()
      assert.equal((await Promise.all(answering)).length, CONTROL_LIMITS.maxConnections)
      assert.deepEqual(await controlRequest(dir, 'GET', '/v1/status'), { ok: true })
    } finally {
      release()
      await server.close()
    }
  })
})
