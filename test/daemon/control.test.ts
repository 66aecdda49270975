import assert from 'node:assert/strict'
import { mkdtemp, stat, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
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
      // An oversized body is cut off (400, or the connection closed mid-write), and the server carries on.
      const huge = await rawPost(
        server.path,
        '/v1/echo',
        JSON.stringify({ x: 'y'.repeat(CONTROL_LIMITS.maxBodyBytes * 16) }),
      ).catch((err: NodeJS.ErrnoException) => ({ status: err.code, json: undefined }))
      assert.ok([400, 'EPIPE', 'ECONNRESET'].includes(huge.status as number | string), String(huge.status))
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
})
