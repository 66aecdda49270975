import { connect, type Socket } from 'node:net'
import * as fc from 'fast-check'
import { type FuzzCase, SLACK_MS } from '../case.js'
import { bytesArb, sample } from '../exchange.js'
import type { ExpectationId } from '../expectations.js'
import type { FuzzWorld } from '../world.js'

/** README: "Bodies are at most 4 KiB; a request must arrive within 10 s; 32 connections at most." */
const MAX_BODY = 4096
const DEADLINE_MS = 10_000
const MAX_CONNECTIONS = 32

interface HttpResult {
  /** 'closed': the connection ended with no answer; 'hang': neither by the deadline. */
  status: number | 'closed' | 'hang'
  body?: string
  ms: number
}

/** Parse what the daemon wrote: the status line, and the body once content-length bytes have arrived. */
function parse(buffer: Buffer, head: boolean): { status: number; body: string } | undefined {
  const end = buffer.indexOf('\r\n\r\n')
  if (end < 0) return undefined
  const headers = buffer.subarray(0, end).toString('latin1')
  const status = Number(headers.match(/^HTTP\/1\.[01] (\d{3})/)?.[1] ?? 0)
  const length = Number(headers.match(/\r\ncontent-length: *(\d+)/i)?.[1] ?? 0)
  if (head) return { status, body: '' }
  if (buffer.byteLength < end + 4 + length) return undefined
  return { status, body: buffer.subarray(end + 4, end + 4 + length).toString('utf8') }
}

/**
 * One connection to the control socket: write `parts` (with `gapMs` between them), then read one answer. Bounded by
 * `deadlineMs`; a request the daemon answers before we finish writing is read all the same.
 */
export async function httpExchange(
  socketPath: string,
  parts: Uint8Array[],
  options: { deadlineMs: number; gapMs?: number; head?: boolean; endAfter?: boolean },
): Promise<HttpResult> {
  const started = performance.now()
  return new Promise<HttpResult>((resolve) => {
    let buffer = Buffer.alloc(0)
    let done = false
    const socket: Socket = connect(socketPath)
    const finish = (status: HttpResult['status'], body?: string): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve({ status, ...(body === undefined ? {} : { body }), ms: performance.now() - started })
    }
    const timer = setTimeout(() => finish('hang'), options.deadlineMs)
    socket.on('data', (d: Buffer) => {
      buffer = Buffer.concat([buffer, d])
      const answer = parse(buffer, options.head === true)
      if (answer !== undefined) finish(answer.status, answer.body)
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      const answer = parse(buffer, true)
      if (answer !== undefined) finish(answer.status, parse(buffer, false)?.body)
      else finish('closed')
    })
    socket.on('connect', () => {
      void (async () => {
        for (const part of parts) {
          if (done || socket.destroyed) return
          socket.write(part)
          if (options.gapMs != null) await new Promise((r) => setTimeout(r, options.gapMs))
        }
        if (options.endAfter === true && !socket.destroyed) socket.end()
      })()
    })
  })
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s)

function request(method: string, path: string, body?: string, headers: string[] = []): Uint8Array {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: localhost', 'Connection: close', ...headers]
  if (body !== undefined) lines.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`)
  return text(`${lines.join('\r\n')}\r\n\r\n${body ?? ''}`)
}

type Shape = 'status' | 'leases' | 'channels' | 'settle' | 'error' | 'any'

/** Does the answer have the shape the README's table gives it? */
function shapeOk(body: string | undefined, shape: Shape, world: FuzzWorld): boolean {
  if (shape === 'any') return true
  let json: any
  try {
    json = JSON.parse(body ?? '')
  } catch {
    return false
  }
  switch (shape) {
    case 'status':
      return (
        json.peerId === world.provider.toString() &&
        Array.isArray(json.addresses) &&
        typeof json.load?.rssBytes === 'number'
      )
    case 'leases':
      return Array.isArray(json.leases)
    case 'channels':
      return Array.isArray(json.channels) && Array.isArray(json.pending)
    case 'settle':
      return Array.isArray(json.settled)
    case 'error':
      return typeof json.error?.code === 'string' && typeof json.error?.message === 'string'
  }
}

function outcomeOf(result: HttpResult, shape: Shape, world: FuzzWorld): string {
  if (typeof result.status !== 'number') return result.status
  const want: Shape = result.status >= 400 && shape !== 'any' ? 'error' : result.status >= 400 ? 'any' : shape
  return shapeOk(result.body, want, world) ? `http:${result.status}` : `http:${result.status}-bad-body`
}

type ControlSpec = {
  expect: ExpectationId[]
  input: string
  parts: Uint8Array[]
  shape: Shape
  head?: boolean
  endAfter?: boolean
}

/** The methods Node's HTTP parser knows: anything else is malformed HTTP before it is a missing route. */
const KNOWN_METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'])

const hex64 = bytesArb(32, 32).map((b) => `0x${Buffer.from(b).toString('hex')}`)
const tokenArb = fc.stringMatching(/^[A-Za-z0-9_~.-]{1,12}$/)

const routesArb: fc.Arbitrary<ControlSpec> = fc
  .tuple(
    fc.constantFrom(
      '/v1/status',
      '/v1/status?reset=1',
      '/v1/leases',
      '/v1/channels',
      '/v1/status?reset=0&x=y',
      '/v1/leases?limit=99999999999',
    ),
    fc.array(
      tokenArb.map((t) => `X-Fuzz-${t}: ${t}`),
      { maxLength: 3 },
    ),
  )
  .map(([path, headers]) => ({
    expect: ['control.routes'],
    input: `GET ${path}`,
    parts: [request('GET', path, undefined, headers)],
    shape: path.startsWith('/v1/status') ? 'status' : path.startsWith('/v1/leases') ? 'leases' : 'channels',
  }))

const settleArb: fc.Arbitrary<ControlSpec> = fc
  .oneof(
    fc.constant(undefined),
    fc.constant('{}'),
    hex64.map((id) => JSON.stringify({ channelId: id })),
    hex64.map((id) => JSON.stringify({ channelId: id, force: false })),
  )
  .map((body) => ({
    expect: ['control.settle'],
    input: `POST /v1/settle ${body ?? '(no body)'}`,
    parts: [request('POST', '/v1/settle', body)],
    shape: 'settle',
  }))

const UNKNOWN_PATHS = [
  '/',
  '/v1',
  '/v1/',
  '/v1/status/',
  '/V1/status',
  '/v2/status',
  '/v1/settle/x',
  '/v1/status%00',
  '//v1/status',
  '/../../etc/passwd',
  '*',
  'http://[',
  'http://a:b@c/v1/nothing',
  '/%',
  '/v1/%zz',
  `/${'a'.repeat(8000)}`,
]

const unknownArb: fc.Arbitrary<ControlSpec> = fc
  .tuple(
    fc.oneof(
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
      fc.stringMatching(/^[A-Z]{3,10}$/),
    ),
    fc.oneof(
      fc.constantFrom(...UNKNOWN_PATHS),
      tokenArb.map((t) => `/v1/${t}`),
      fc.stringMatching(/^\/[A-Za-z0-9/._~%-]{0,60}$/),
    ),
  )
  .filter(
    ([method, path]) =>
      !['GET /v1/status', 'GET /v1/leases', 'GET /v1/channels', 'POST /v1/settle'].includes(
        `${method} ${path.split('?')[0]}`,
      ),
  )
  .map(([method, path]): ControlSpec => {
    const known = KNOWN_METHODS.has(method)
    return {
      // A method HTTP/1.1 parsers do not know is malformed HTTP; a known one on an unknown path is a missing route.
      expect: known ? ['control.unknown-route'] : ['control.malformed-http', 'control.unknown-route'],
      input: `${method} ${path.slice(0, 60)}`,
      parts: [request(method, path)],
      // HEAD answers carry no body.
      shape: known && method !== 'HEAD' ? 'error' : 'any',
      head: method === 'HEAD',
    }
  })

const badInputArb: fc.Arbitrary<ControlSpec> = fc
  .oneof(
    fc.constantFrom(
      '{nope',
      '{"channelId":',
      'not json',
      '\u0000',
      '{"channelId": 5}',
      '{"channelId": "0x1234"}',
      '{"channelId": "zz"}',
      '{"force": "yes"}',
      '{"force": 1}',
    ),
    hex64.map((id) => JSON.stringify({ channelId: id.slice(2) })),
    hex64.map((id) => JSON.stringify({ channelId: `${id}00` })),
    fc.string({ minLength: 1, maxLength: 200 }).filter((s) => {
      try {
        JSON.parse(s)
        return false
      } catch {
        return true
      }
    }),
  )
  .map((body) => ({
    expect: ['control.bad-input'],
    input: `POST /v1/settle ${JSON.stringify(body).slice(0, 60)}`,
    parts: [request('POST', '/v1/settle', body)],
    shape: 'error',
  }))

const bigBodyArb: fc.Arbitrary<ControlSpec> = fc
  .tuple(
    fc.oneof(
      fc.constantFrom(MAX_BODY + 1, MAX_BODY + 2, 8192, 65_536, 1 << 20),
      fc.integer({ min: MAX_BODY + 1, max: 200_000 }),
    ),
    fc.boolean(),
  )
  .map(([size, chunked]) => {
    const body = JSON.stringify({ pad: 'x'.repeat(size - 10) })
    const parts = chunked
      ? [
          text(
            `POST /v1/settle HTTP/1.1\r\nHost: l\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
          ),
        ]
      : [request('POST', '/v1/settle', body)]
    return {
      expect: ['control.body-too-large'],
      input: `a ${body.length} B body${chunked ? ', chunked' : ''}`,
      parts,
      shape: 'any',
    }
  })

const MALFORMED = [
  'GET / HTTP/9.9\r\n\r\n',
  'GET /v1/status\r\n\r\n',
  'GET /v1/status HTTP/1.1\r\nHost\r\n\r\n',
  'GET /v1/status HTTP/1.1\r\nBad Header: x\r\n\r\n',
  'GET /v1/status HTTP/1.1\r\nHost: l\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'POST /v1/settle HTTP/1.1\r\nHost: l\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}',
  'POST /v1/settle HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
  'POST /v1/settle HTTP/1.1\r\nHost: l\r\nContent-Length: -1\r\n\r\n',
  'POST /v1/settle HTTP/1.1\r\nHost: l\r\nContent-Length: 99999999999999999999\r\n\r\n',
  '\r\n\r\n\r\n',
  'GET\u0000/v1/status HTTP/1.1\r\n\r\n',
  ' GET /v1/status HTTP/1.1\r\n\r\n',
  'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
]

const malformedArb: fc.Arbitrary<ControlSpec> = fc
  .oneof(
    fc.constantFrom(...MALFORMED).map((s) => ({ input: JSON.stringify(s).slice(0, 70), bytes: text(s) })),
    bytesArb(1, 2048)
      .filter((b) => !/^[A-Z]+ /.test(Buffer.from(b.subarray(0, 12)).toString('latin1')))
      .map((b) => ({ input: `random ${b.byteLength} B`, bytes: b })),
    fc.integer({ min: 17 * 1024, max: 80 * 1024 }).map((n) => ({
      input: `${n} B of headers`,
      bytes: text(`GET /v1/status HTTP/1.1\r\nHost: l\r\nX-Big: ${'h'.repeat(n)}\r\n\r\n`),
    })),
  )
  .map(({ input, bytes }) => ({
    expect: ['control.malformed-http'],
    input,
    parts: [bytes],
    shape: 'any',
    endAfter: true,
  }))

const specArb: fc.Arbitrary<ControlSpec> = fc.oneof(
  { weight: 3, arbitrary: routesArb },
  { weight: 1, arbitrary: settleArb },
  { weight: 3, arbitrary: unknownArb },
  { weight: 2, arbitrary: badInputArb },
  { weight: 1, arbitrary: bigBodyArb },
  { weight: 3, arbitrary: malformedArb },
)

export function controlCases(seed: number, count: number): FuzzCase[] {
  return sample(specArb, seed, count).map(
    (spec): FuzzCase => ({
      protocol: 'control',
      timing: 'fast',
      label: spec.input,
      boundMs: DEADLINE_MS + SLACK_MS,
      async run(world) {
        const result = await httpExchange(world.controlSocket, spec.parts, {
          deadlineMs: DEADLINE_MS + SLACK_MS,
          ...(spec.head === true ? { head: true } : {}),
          ...(spec.endAfter === true ? { endAfter: true } : {}),
        })
        const outcome = outcomeOf(result, spec.shape, world)
        return [{ expect: spec.expect, input: `${spec.input} (${Math.round(result.ms)} ms)`, outcome, ms: result.ms }]
      },
    }),
  )
}

/** Requests that never arrive whole: the daemon must answer or close within its 10 s. */
export function controlSlowCases(seed: number, count: number): FuzzCase[] {
  const variants: Array<{ input: string; parts: Uint8Array[]; gapMs: number }> = [
    {
      input: 'headers, one byte every 400 ms',
      parts: [...request('GET', '/v1/status')].map((b) => Uint8Array.from([b])),
      gapMs: 400,
    },
    {
      input: 'half the headers, then silence',
      parts: [text('GET /v1/status HTTP/1.1\r\nHost: l')] as Uint8Array[],
      gapMs: 0,
    },
    {
      input: 'headers, then 10 of 100 body bytes, then silence',
      parts: [
        text(
          'POST /v1/settle HTTP/1.1\r\nHost: l\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"channelI',
        ),
      ] as Uint8Array[],
      gapMs: 0,
    },
    { input: 'a connection that sends nothing', parts: [] as Uint8Array[], gapMs: 0 },
  ]
  return Array.from({ length: count }, (_, i) => ({
    ...variants[(i + seed) % variants.length]!,
    startAfterMs: (i % 4) * 3_000,
  })).map(
    (spec): FuzzCase => ({
      protocol: 'control',
      timing: 'slow',
      label: spec.input,
      // Node checks request deadlines on a timer (every 30 s by default): cases started 3 s apart meet its phase
      // apart, so at most two of four can be closed in time by luck (its window is 3 s: 10 to 13 s).
      boundMs: DEADLINE_MS + SLACK_MS + spec.startAfterMs,
      async run(world) {
        await new Promise((r) => setTimeout(r, spec.startAfterMs))
        const result = await httpExchange(world.controlSocket, spec.parts, {
          deadlineMs: DEADLINE_MS + SLACK_MS,
          gapMs: spec.gapMs,
        })
        const outcome = typeof result.status === 'number' ? `http:${result.status}` : result.status
        return [{ expect: ['control.slow'], input: spec.input, outcome, ms: result.ms }]
      },
    }),
  )
}

/** 32 connections held open, then a 33rd. */
export function controlExclusiveCases(): FuzzCase[] {
  // A path the URL parser refuses: run alone, after the slow cases, as it has been seen to kill the daemon (which is
  // then restarted on the same address: the connection case after it meets the new one).
  const unparsable: ControlSpec = {
    expect: ['control.unknown-route'],
    input: 'GET //%qf',
    parts: [request('GET', '//%qf')],
    shape: 'error',
  }
  return [
    {
      protocol: 'control',
      timing: 'exclusive',
      label: unparsable.input,
      boundMs: DEADLINE_MS + SLACK_MS,
      async run(world) {
        const result = await httpExchange(world.controlSocket, unparsable.parts, { deadlineMs: DEADLINE_MS + SLACK_MS })
        return [
          {
            expect: unparsable.expect,
            input: unparsable.input,
            outcome: outcomeOf(result, unparsable.shape, world),
            ms: result.ms,
          },
        ]
      },
    },
    {
      protocol: 'control',
      timing: 'exclusive',
      label: '33rd control connection',
      boundMs: 5_000 + SLACK_MS,
      async run(world) {
        const held: Socket[] = []
        try {
          for (let i = 0; i < MAX_CONNECTIONS; i++) {
            const socket = connect(world.controlSocket)
            socket.on('error', () => {})
            await new Promise<void>((resolve) => {
              socket.once('connect', () => resolve())
              socket.once('close', () => resolve())
            })
            // Half a request: the connection is busy, not idle-free.
            socket.write('GET /v1/status HTTP/1.1\r\n')
            held.push(socket)
          }
          await new Promise((r) => setTimeout(r, 100))
          const result = await httpExchange(world.controlSocket, [request('GET', '/v1/status')], { deadlineMs: 5_000 })
          const outcome = typeof result.status === 'number' ? `http:${result.status}` : result.status
          return [
            {
              expect: ['control.connections'],
              input: '33rd connection while 32 wait mid-request',
              outcome,
              ms: result.ms,
            },
          ]
        } finally {
          for (const s of held) s.destroy()
        }
      },
    },
  ]
}

/** One request of every class: every control expectation is met on every run. */
export function controlCoverage(): FuzzCase[] {
  const specs: ControlSpec[] = [
    { expect: ['control.routes'], input: 'GET /v1/status', parts: [request('GET', '/v1/status')], shape: 'status' },
    { expect: ['control.routes'], input: 'GET /v1/leases', parts: [request('GET', '/v1/leases')], shape: 'leases' },
    {
      expect: ['control.routes'],
      input: 'GET /v1/channels',
      parts: [request('GET', '/v1/channels')],
      shape: 'channels',
    },
    {
      expect: ['control.settle'],
      input: 'POST /v1/settle {}',
      parts: [request('POST', '/v1/settle', '{}')],
      shape: 'settle',
    },
    {
      expect: ['control.unknown-route'],
      input: 'DELETE /v1/status',
      parts: [request('DELETE', '/v1/status')],
      shape: 'error',
    },
    {
      expect: ['control.bad-input'],
      input: 'POST /v1/settle {nope',
      parts: [request('POST', '/v1/settle', '{nope')],
      shape: 'error',
    },
    {
      expect: ['control.bad-input'],
      input: 'POST /v1/settle {"force": "yes"}',
      parts: [request('POST', '/v1/settle', '{"force": "yes"}')],
      shape: 'error',
    },
    {
      expect: ['control.body-too-large'],
      input: 'a 4097 B body',
      parts: [request('POST', '/v1/settle', JSON.stringify({ p: 'x'.repeat(MAX_BODY - 7) }))],
      shape: 'any',
    },
    {
      expect: ['control.malformed-http'],
      input: 'GET / HTTP/9.9',
      parts: [text('GET / HTTP/9.9\r\n\r\n')],
      shape: 'any',
      endAfter: true,
    },
    {
      expect: ['control.malformed-http'],
      input: '20 KiB of headers',
      parts: [text(`GET /v1/status HTTP/1.1\r\nX-Big: ${'h'.repeat(20 * 1024)}\r\n\r\n`)],
      shape: 'any',
      endAfter: true,
    },
  ]
  return specs.map((spec) => ({
    protocol: 'control',
    timing: 'fast',
    label: spec.input,
    boundMs: DEADLINE_MS + SLACK_MS,
    async run(world) {
      const result = await httpExchange(world.controlSocket, spec.parts, {
        deadlineMs: DEADLINE_MS + SLACK_MS,
        ...(spec.endAfter === true ? { endAfter: true } : {}),
      })
      return [{ expect: spec.expect, input: spec.input, outcome: outcomeOf(result, spec.shape, world), ms: result.ms }]
    },
  }))
}
