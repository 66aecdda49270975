import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import * as fc from 'fast-check'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { identityModel } from '../compute/onnx-builder.js'
import { type ConsoleDaemon, startConsoleDaemon } from '../daemon/console-fixture.js'
import { type GatewayWorld, startGatewayWorld } from '../gateway/fixture.js'
import { runMain } from '../helpers/cli.js'

// The two HTTP surfaces a stranger on this machine can reach, the owner console and the agent gateway, fed random
// requests from an outside client (raw TCP): methods, paths, headers (Host, Origin, Authorization with wrong or no
// credentials, content types and lengths) and bodies. Neither may crash, hang, answer 5xx, hand out data or act
// without the secret, nor charge a key for a request it did not make; both still serve a well-formed request after.

const SEED = 20_261_201
const RUNS = 120
const DEADLINE_MS = 12_000

type Outcome = { status: number | 'closed' | 'hang'; body: string }

/** One raw HTTP/1.1 exchange on 127.0.0.1:`port`, bounded by DEADLINE_MS. */
function exchange(port: number, bytes: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    let buffer = Buffer.alloc(0)
    let done = false
    const socket = connect(port, '127.0.0.1')
    const finish = (status: Outcome['status']): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      const end = buffer.indexOf('\r\n\r\n')
      resolve({ status, body: end < 0 ? '' : buffer.subarray(end + 4).toString('utf8') })
    }
    const timer = setTimeout(() => finish('hang'), DEADLINE_MS)
    socket.on('data', (d: Buffer) => {
      buffer = Buffer.concat([buffer, d])
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      const status = Number(buffer.toString('latin1').match(/^HTTP\/1\.[01] (\d{3})/)?.[1] ?? 0)
      finish(status === 0 ? 'closed' : status)
    })
    socket.on('connect', () => socket.end(bytes))
  })
}

interface RandomRequest {
  method: string
  path: string
  headers: string[]
  body: Buffer
  /** Whether it carries the real secret (then a 200 with data is allowed). */
  authorised: boolean
}

function requestBytes(r: RandomRequest): Buffer {
  const head = [`${r.method} ${r.path} HTTP/1.1`, 'Connection: close', ...r.headers]
  if (r.body.byteLength > 0 && !r.headers.some((h) => /^content-length:/i.test(h))) {
    head.push(`Content-Length: ${r.body.byteLength}`)
  }
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), r.body])
}

const tokenish = fc.stringMatching(/^[A-Za-z0-9_.~+/=-]{0,40}$/)
const bodyArb = fc.oneof(
  fc.constant(Buffer.alloc(0)),
  fc.json({ maxDepth: 3 }).map((j) => Buffer.from(j)),
  fc.uint8Array({ maxLength: 6000 }).map((b) => Buffer.from(b)),
  fc.constant(Buffer.from('{"pricePerSecond":"0"}')),
  fc.constant(Buffer.from('{"force":true}')),
)
/** Mostly well-formed, so that most requests get past the HTTP parser and the Host check to the routes. */
const usually = <T>(common: T, ...rare: T[]): fc.Arbitrary<T> =>
  fc.oneof({ arbitrary: fc.constant(common), weight: 4 }, { arbitrary: fc.constantFrom(...rare), weight: 1 })
/** The Host a browser sends (with the port), mostly; sometimes another name (DNS rebinding) or none. */
const hostArb = (port: number) =>
  fc.oneof(
    { arbitrary: fc.constantFrom(`Host: 127.0.0.1:${port}`, `Host: localhost:${port}`), weight: 5 },
    { arbitrary: fc.constantFrom('Host: evil.example', `Host: 127.0.0.1.evil.example:${port}`, ''), weight: 1 },
  )

/** Random requests to `paths`, with Authorization that is absent, wrong, or (when `secret` is drawn) right. */
function requestArb(
  port: number,
  paths: string[],
  authHeader: (secret: string) => string,
  secret: string,
): fc.Arbitrary<RandomRequest> {
  return fc
    .record({
      method: fc.oneof(
        { arbitrary: fc.constantFrom('GET', 'POST'), weight: 4 },
        { arbitrary: fc.constantFrom('PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'), weight: 1 },
      ),
      path: fc.oneof(
        { arbitrary: fc.constantFrom(...paths), weight: 4 },
        { arbitrary: fc.stringMatching(/^\/[A-Za-z0-9/._~%?=&-]{0,80}$/), weight: 1 },
        { arbitrary: fc.constantFrom('*', '//', '/%', '/..%2f..%2fetc/passwd', `/${'a'.repeat(5000)}`), weight: 1 },
      ),
      auth: fc.oneof(
        fc.constant({ header: '', authorised: false }),
        tokenish.map((t) => ({ header: `Authorization: Bearer ${t}`, authorised: false })),
        tokenish.map((t) => ({ header: `Authorization: Basic ${t}`, authorised: false })),
        fc.constant({ header: authHeader(`${secret}x`), authorised: false }),
        fc.constant({ header: authHeader(secret), authorised: true }),
      ),
      host: hostArb(port),
      origin: usually('', 'Origin: http://evil.example', 'Origin: null', 'Origin: http://127.0.0.1'),
      type: fc.constantFrom('', 'Content-Type: application/json', 'Content-Type: text/plain'),
      length: usually('', 'Content-Length: 99999999', 'Content-Length: -1', 'Transfer-Encoding: chunked'),
      body: bodyArb,
    })
    .map((r) => ({
      method: r.method,
      path: r.path,
      headers: [r.host, r.origin, r.type, r.auth.header, r.length].filter((h) => h !== ''),
      body: r.body,
      authorised: r.auth.header === authHeader(secret),
    }))
}

/** Run the property; every outcome must be one `allowed` accepts. Returns how many of each status. */
async function fuzz(
  port: number,
  arb: fc.Arbitrary<RandomRequest>,
  allowed: (r: RandomRequest, o: Outcome) => string | undefined,
): Promise<Record<string, number>> {
  const seen: Record<string, number> = {}
  await fc.assert(
    fc.asyncProperty(arb, async (r) => {
      const outcome = await exchange(port, requestBytes(r))
      seen[outcome.status] = (seen[outcome.status] ?? 0) + 1
      const wrong = allowed(r, outcome)
      assert.equal(wrong, undefined, `${r.method} ${r.path.slice(0, 80)} [${r.headers.join(' | ')}]: ${wrong}`)
    }),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  )
  return seen
}

describe('hostile HTTP on the owner console and the agent gateway', () => {
  let chain: DevChain
  let owner: ConsoleDaemon
  let world: GatewayWorld
  let key: string

  before(async () => {
    chain = await startDevChain()
    owner = await startConsoleDaemon(chain)
    world = await startGatewayWorld({ models: { ident: identityModel(['float32']) } })
    const created = await runMain([
      ...['gateway', 'key', 'create', '--name', 'fuzz', '--max-price-per-second', '5000', '--json'],
      ...['--data-dir', world.dir],
    ])
    assert.equal(created.code, 0, created.stderr)
    key = JSON.parse(created.stdout).key
  })

  after(async () => {
    await world?.stop()
    await owner?.daemon.stop()
    await chain?.stop()
  })

  it('the console: no crash, no 5xx, no data and no action without its token', async (t) => {
    const port = Number(new URL(owner.url).port)
    const paths = [
      '/',
      '/api/v1/state',
      '/api/v1/pause',
      '/api/v1/resume',
      '/api/v1/price',
      '/api/v1/settle',
      '/metrics',
    ]
    const before = await owner.daemon.status()
    const seen = await fuzz(
      port,
      requestArb(port, paths, (s) => `Authorization: Bearer ${s}`, owner.token),
      (r, o) => {
        if (o.status === 'hang') return 'no answer within the deadline'
        if (o.status === 'closed') return undefined
        if (o.status >= 500) return `answered ${o.status}`
        // Without the token only the page and its static assets (which hold no data) may be 200.
        const dataRoute = r.path.startsWith('/api/') || r.path.startsWith('/metrics')
        if (o.status < 300 && dataRoute && !r.authorised) return `answered ${o.status} without the token`
        return undefined
      },
    )
    t.diagnostic(`statuses: ${JSON.stringify(seen)}`)
    // Nothing was done without the token: still selling at the same price unless an authorised request acted.
    const now = await owner.daemon.status()
    assert.equal(now.peerId, before.peerId)
    const state = await fetch(new URL('/api/v1/state', owner.url), {
      headers: { authorization: `Bearer ${owner.token}` },
    })
    assert.equal(state.status, 200, 'the console still serves its owner')
  })

  it('the gateway: no crash, no 5xx but its documented ones, no result and no spend without a key', async (t) => {
    const port = Number(new URL(world.http.url).port)
    let servedWithKey = 0
    const paths = [
      '/v2',
      '/v2/health/live',
      '/v2/health/ready',
      '/v2/models/ident',
      '/v2/models/ident/ready',
      '/v2/models/ident/infer',
      '/v2/models/nope/infer',
    ]
    const seen = await fuzz(
      port,
      requestArb(port, paths, (s) => `Authorization: Bearer ${s}`, key),
      (r, o) => {
        if (o.status === 'hang') return 'no answer within the deadline'
        if (o.status === 'closed') return undefined
        // 503 (no provider / ceiling / balance) and 504 (timeout) are the gateway's documented answers; 500 is not.
        if (o.status >= 500 && o.status !== 503 && o.status !== 504) return `answered ${o.status}`
        if (o.status === 200 && r.path.includes('/infer') && !r.authorised) return 'a result without a key'
        if (o.status === 200 && r.path.includes('/infer')) servedWithKey++
        return undefined
      },
    )
    t.diagnostic(`statuses: ${JSON.stringify(seen)}`)
    // Only a request the key made and was served may cost it anything.
    const keys = JSON.parse((await runMain(['gateway', 'keys', '--json', '--data-dir', world.dir])).stdout).keys
    const spent = BigInt(keys.find((k: { name: string }) => k.name === 'fuzz').spend.total)
    t.diagnostic(`${servedWithKey} results with the key; the key spent ${spent} wei`)
    if (servedWithKey === 0) assert.equal(spent, 0n)
    const health = await fetch(`http://127.0.0.1:${port}/v2/health/ready`)
    assert.equal(health.status, 200, 'the gateway still serves')
  })
})
