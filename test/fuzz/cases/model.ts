import { createHash } from 'node:crypto'
import * as fc from 'fast-check'
import { ModelReply } from '../../../src/compute/pb/compute.js'
import type { ParkbenchNode } from '../../../src/net/create-node.js'
import { addModel, buildModel } from '../../compute/onnx-builder.js'
import { type CaseResult, type FuzzCase, hex, SLACK_MS, VOID } from '../case.js'
import { bytesArb, sample } from '../exchange.js'
import type { ExpectationId } from '../expectations.js'
import { bytesField, decodability, MODEL_REQUEST, message, rawFields, varintField } from '../proto.js'
import { MODEL_PROTOCOL } from '../readme-renter.js'
import { concat, frame, lyingFrame, padTo, RawStream } from '../wire.js'
import { type FuzzModel, type FuzzWorld, MODELS } from '../world.js'

/** README: "chunk 1 MiB; model 256 MiB (configurable) | 30 s between chunks, 10 min per transfer | 32; 4 transfers". */
const MAX_CHUNK = 1024 * 1024
const MAX_MODEL = 256 * 1024 * 1024
const CHUNK_GAP_MS = 30_000
const CASE_MS = 20_000
/** A BUSY from this client's own previous transfer: asked again this often, this many times. */
const BUSY_RETRY_MS = 250
const BUSY_RETRIES = 8

const PUSH = 1
const FETCH = 2

const sha256 = (bytes: Uint8Array): Uint8Array => Uint8Array.from(createHash('sha256').update(bytes).digest())

function modelOf(bytes: Uint8Array): FuzzModel {
  const hash = sha256(bytes)
  return { bytes, hash, sha256: Buffer.from(hash).toString('hex') }
}

/** New models a push may store: a small pool, so a long run does not fill the provider's offer with models. */
const POOL = [
  ...Array.from({ length: 6 }, (_, i) =>
    modelOf(
      buildModel({
        docString: `fuzz pool model ${i}`,
        nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
        inputs: [{ name: 'x', type: 'float32', dims: ['n'] }],
        outputs: [{ name: 'y', type: 'float32', dims: ['n'] }],
      }),
    ),
  ),
  // Larger than one chunk of 1 MiB: pushed in several.
  modelOf(addModel(1_500_000)),
]

/** ModelRequest bytes, any field at any value. */
function request(kind: number, hash: Uint8Array, sizeBytes: number | bigint = 0, name = ''): Uint8Array {
  return message(
    kind !== 0 && varintField(1, kind),
    bytesField(2, hash),
    BigInt(sizeBytes) !== 0n && varintField(3, sizeBytes),
    name !== '' && bytesField(4, name),
  )
}

const chunk = (data: Uint8Array): Uint8Array => frame(bytesField(1, data))

function decodeReply(bytes: Uint8Array): ModelReply | undefined {
  try {
    return ModelReply.decode(bytes)
  } catch {
    return undefined
  }
}

/** One model-protocol stream, bounded: open, write, read replies; closes with `abort()`. */
class Transfer {
  private constructor(
    readonly raw: RawStream,
    readonly deadline: number,
  ) {}

  static async open(node: ParkbenchNode, world: FuzzWorld, ms = CASE_MS): Promise<Transfer | undefined> {
    try {
      const stream = await node.dialProtocol(world.renter.addrs, MODEL_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
      return new Transfer(new RawStream(stream), Date.now() + ms)
    } catch {
      return undefined
    }
  }

  send(bytes: Uint8Array): Promise<boolean> {
    return this.raw.send(bytes, this.deadline)
  }

  /** The next reply as `<prefix>:<status>` (OK-already-stored for a push of a model held), or how the stream ended. */
  async reply(prefix: 'reply' | 'stored'): Promise<{ outcome: string; reply?: ModelReply }> {
    const read = await this.raw.readFrame(this.deadline)
    if ('timeout' in read) return { outcome: 'hang' }
    if ('end' in read) return { outcome: read.end }
    const reply = decodeReply(read.frame)
    if (reply === undefined) return { outcome: 'undecodable-reply' }
    const already = reply.alreadyStored && reply.status === 'OK' ? '-already-stored' : ''
    return { outcome: `${prefix}:${reply.status}${already}`, reply }
  }

  abort(): void {
    this.raw.abort()
  }
}

/** Push `model` whole (the harness's own setup, and the valid-push case): the final outcome. */
export async function pushModel(
  world: FuzzWorld,
  model: FuzzModel,
  chunkBytes = 256 * 1024,
  node = world.node,
): Promise<string> {
  const t = await Transfer.open(node, world)
  if (t === undefined) return 'refused'
  try {
    await t.send(frame(request(PUSH, model.hash, model.bytes.byteLength, 'fuzz')))
    const first = await t.reply('reply')
    if (first.outcome !== 'reply:OK') return first.outcome
    for (let at = 0; at < model.bytes.byteLength; at += chunkBytes) {
      await t.send(chunk(model.bytes.subarray(at, Math.min(at + chunkBytes, model.bytes.byteLength))))
    }
    return (await t.reply('stored')).outcome
  } finally {
    t.abort()
  }
}

/** FETCH `hash`: 'fetched' when the bytes arrive whole, in chunks of at most 1 MiB, and hash right. */
export async function fetchModel(world: FuzzWorld, hash: Uint8Array, node = world.node): Promise<string> {
  const t = await Transfer.open(node, world)
  if (t === undefined) return 'refused'
  try {
    await t.send(frame(request(FETCH, hash)))
    const first = await t.reply('reply')
    if (first.outcome !== 'reply:OK') return first.outcome
    const size = Number(first.reply!.sizeBytes)
    const digest = createHash('sha256')
    let received = 0
    while (received < size) {
      const read = await t.raw.readFrame(t.deadline)
      if (!('frame' in read)) return `fetch-cut-at-${received}-of-${size} (${'end' in read ? read.end : 'hang'})`
      if (read.frame.byteLength > MAX_CHUNK + 16) return 'fetch-chunk-over-1MiB'
      const data = rawFields(read.frame)?.find((f) => f.field === 1)?.value
      if (!(data instanceof Uint8Array)) return 'fetch-bad-chunk'
      digest.update(data)
      received += data.byteLength
    }
    return received === size && Buffer.from(digest.digest()).equals(Buffer.from(hash)) ? 'fetched' : 'fetch-bad-bytes'
  } finally {
    t.abort()
  }
}

/** The models the infer cases need, pushed as a client would (and judged: a valid push). */
export async function prepareModels(world: FuzzWorld): Promise<CaseResult[]> {
  const results: CaseResult[] = []
  for (const [name, model] of [
    ['identity', MODELS.identity],
    ['slow', MODELS.slow],
  ] as const) {
    const outcome = await pushModel(world, model)
    if (outcome !== 'stored:OK' && outcome !== 'reply:OK-already-stored')
      throw new Error(`pushing the ${name} model: ${outcome}`)
    results.push({ expect: ['model.push-valid', 'model.push-already'], input: `push the ${name} model`, outcome })
  }
  return results
}

type ModelSpec =
  | { kind: 'push-valid'; pool: number; chunkBytes: number; stranger: boolean }
  | { kind: 'push-too-large'; size: bigint; stranger: boolean }
  | { kind: 'push-at-limit' }
  | { kind: 'hash-mismatch'; bytes: Uint8Array; hash: Uint8Array; chunkBytes: number }
  | { kind: 'invalid-model'; bytes: Uint8Array; chunkBytes: number }
  | { kind: 'bytes-past-size'; pool: number; extra: number }
  | { kind: 'chunk-too-large'; data: number }
  | { kind: 'push-short'; bytes: Uint8Array; keep: number }
  | { kind: 'fetch-valid'; which: 'add' | 'identity' | 'slow'; stranger: boolean }
  | { kind: 'fetch-unknown'; hash: Uint8Array; stranger: boolean }
  | { kind: 'bad-request'; request: Uint8Array; what: string }
  | { kind: 'random'; bytes: Uint8Array }
  | { kind: 'truncated'; bytes: Uint8Array; cut: number }
  | { kind: 'oversized-request'; size: number }
  | { kind: 'lying'; claimed: bigint }

const chunkArb = fc.oneof(
  fc.constantFrom(1, 7, 4096, 256 * 1024, MAX_CHUNK - 16),
  fc.integer({ min: 1, max: MAX_CHUNK - 16 }),
)

const specArb: fc.Arbitrary<ModelSpec> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('push-valid' as const),
      pool: fc.integer({ min: 0, max: POOL.length - 1 }),
      chunkBytes: chunkArb,
      stranger: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('push-too-large' as const),
      size: fc.oneof(
        fc.constantFrom(BigInt(MAX_MODEL + 1), BigInt(MAX_MODEL) * 2n, (1n << 53n) - 1n, 1n << 53n),
        fc.bigInt({ min: BigInt(MAX_MODEL + 1), max: 1n << 50n }),
      ),
      stranger: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'push-at-limit' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('hash-mismatch' as const),
      bytes: bytesArb(0, 5000),
      hash: bytesArb(32, 32),
      chunkBytes: chunkArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('invalid-model' as const),
      bytes: bytesArb(0, 5000),
      chunkBytes: chunkArb,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('bytes-past-size' as const),
      pool: fc.integer({ min: 0, max: POOL.length - 2 }),
      extra: fc.integer({ min: 1, max: 4096 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('chunk-too-large' as const),
      data: fc.oneof(
        fc.constantFrom(MAX_CHUNK + 65, 2 * MAX_CHUNK),
        fc.integer({ min: MAX_CHUNK + 65, max: 2 * MAX_CHUNK }),
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: bytesArb(2, 3000).chain((bytes) =>
      fc.record({
        kind: fc.constant('push-short' as const),
        bytes: fc.constant(bytes),
        keep: fc.integer({ min: 0, max: bytes.byteLength - 1 }),
      }),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('fetch-valid' as const),
      which: fc.constantFrom('add' as const, 'identity' as const, 'slow' as const),
      stranger: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('fetch-unknown' as const),
      hash: bytesArb(32, 32),
      stranger: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc
          .tuple(
            fc.constantFrom(PUSH, FETCH),
            fc.oneof(
              fc.constantFrom(0, 1, 31, 33, 64),
              fc.integer({ min: 0, max: 80 }).filter((n) => n !== 32),
            ),
          )
          .map(([kind, len]) => ({
            request: request(kind, new Uint8Array(len).fill(3), 100),
            what: `${kind === PUSH ? 'PUSH' : 'FETCH'} with a ${len}-byte sha256`,
          })),
        fc
          .tuple(fc.constantFrom(0, 3, 4, 99, 2 ** 31 - 1, -1), bytesArb(32, 32))
          .map(([kind, hash]) => ({ request: request(kind, hash, 100), what: `kind ${kind}` })),
      )
      .map((b) => ({ kind: 'bad-request' as const, ...b })),
  },
  { weight: 2, arbitrary: bytesArb(0, 300).map((bytes) => ({ kind: 'random' as const, bytes })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(PUSH, FETCH), bytesArb(32, 32), fc.string({ maxLength: 40 }))
      .map(([kind, hash, name]) => request(kind, hash, 1000, name))
      .chain((bytes) =>
        fc.record({
          kind: fc.constant('truncated' as const),
          bytes: fc.constant(bytes),
          cut: fc.integer({ min: 1, max: frame(bytes).byteLength - 1 }),
        }),
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(fc.constantFrom(MAX_CHUNK + 65, 2 * MAX_CHUNK), fc.integer({ min: MAX_CHUNK + 65, max: 2 * MAX_CHUNK }))
      .map((size) => ({ kind: 'oversized-request' as const, size })),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        fc.constantFrom(BigInt(MAX_CHUNK + 65), 1n << 32n, (1n << 64n) - 1n),
        fc.bigInt({ min: BigInt(MAX_CHUNK + 65), max: 1n << 40n }),
      )
      .map((claimed) => ({ kind: 'lying' as const, claimed })),
  },
)

const held = (world: FuzzWorld): Set<string> => world.heldModels

async function pushBytes(
  t: Transfer,
  announce: Uint8Array,
  bytes: Uint8Array,
  size: number,
  chunkBytes: number,
): Promise<string> {
  await t.send(frame(request(PUSH, announce, size, 'fuzz')))
  const first = await t.reply('reply')
  if (first.outcome !== 'reply:OK') return first.outcome
  for (let at = 0; at < bytes.byteLength; at += chunkBytes) {
    if (!(await t.send(chunk(bytes.subarray(at, Math.min(at + chunkBytes, bytes.byteLength)))))) break
  }
  return (await t.reply('stored')).outcome
}

async function runSpec(world: FuzzWorld, spec: ModelSpec): Promise<CaseResult[]> {
  const leasedNode = world.node
  const one = async (
    node: ParkbenchNode,
    expect: ExpectationId[],
    input: string,
    body: (t: Transfer) => Promise<string>,
  ): Promise<CaseResult[]> => {
    // This client's previous transfer holds its one slot until the provider has seen that stream reset: a BUSY
    // then is the README's "this peer's transfer in progress", so it waits and asks again, as a client would.
    for (let attempt = 0; ; attempt++) {
      const t = await Transfer.open(node, world)
      if (t === undefined) return [{ expect, input, outcome: 'refused' }]
      try {
        const outcome = await body(t)
        if (outcome === 'reply:BUSY' && attempt < BUSY_RETRIES && !expect.includes('model.busy')) {
          await new Promise((resolve) => setTimeout(resolve, BUSY_RETRY_MS))
          continue
        }
        // A leased push refused NOT_AUTHORIZED while the client's own lease lapsed proves nothing.
        if (node === leasedNode && outcome.endsWith('NOT_AUTHORIZED') && !world.paid.active(0))
          return [{ expect, input, outcome: VOID }]
        return [{ expect, input, outcome }]
      } finally {
        t.abort()
      }
    }
  }
  const stranger = (s: boolean): ParkbenchNode => (s ? world.stranger : world.node)
  switch (spec.kind) {
    case 'push-valid': {
      const model = POOL[spec.pool]!
      const known = held(world).has(model.sha256)
      const expect: ExpectationId[] = spec.stranger
        ? ['model.not-authorized']
        : known
          ? ['model.push-already']
          : ['model.push-valid']
      const input = `${spec.stranger ? 'stranger ' : ''}push pool model ${spec.pool} (${model.bytes.byteLength} B) in ${spec.chunkBytes} B chunks`
      const outcome = await pushModel(world, model, spec.chunkBytes, stranger(spec.stranger))
      if (outcome === 'stored:OK') held(world).add(model.sha256)
      return [{ expect, input, outcome }]
    }
    case 'push-too-large':
      return one(
        stranger(spec.stranger),
        // The README orders neither check: the size is judged first, so that a size that does not decode counts there.
        spec.stranger ? ['model.push-too-large', 'model.not-authorized'] : ['model.push-too-large'],
        `${spec.stranger ? 'stranger ' : ''}push announcing ${spec.size} B`,
        async (t) => {
          await t.send(frame(request(PUSH, new Uint8Array(32).fill(9), spec.size)))
          return (await t.reply('reply')).outcome
        },
      )
    case 'push-at-limit':
      return one(world.node, ['model.push-at-limit'], `push announcing exactly ${MAX_MODEL} B`, async (t) => {
        await t.send(frame(request(PUSH, new Uint8Array(32).fill(8), MAX_MODEL)))
        return (await t.reply('reply')).outcome
      })
    case 'hash-mismatch': {
      const lying = Buffer.from(spec.hash).equals(Buffer.from(sha256(spec.bytes))) ? sha256(spec.hash) : spec.hash
      return one(
        world.node,
        [spec.bytes.byteLength === 0 ? 'model.push-empty' : 'model.hash-mismatch'],
        `${spec.bytes.byteLength} B under a lying sha256`,
        (t) => pushBytes(t, lying, spec.bytes, spec.bytes.byteLength, spec.chunkBytes),
      )
    }
    case 'invalid-model':
      return one(
        world.node,
        [spec.bytes.byteLength === 0 ? 'model.push-empty' : 'model.invalid-model'],
        `${spec.bytes.byteLength} random B under their own sha256 ${hex(spec.bytes, 8)}`,
        (t) => pushBytes(t, sha256(spec.bytes), spec.bytes, spec.bytes.byteLength, Math.max(1, spec.chunkBytes)),
      )
    case 'bytes-past-size': {
      const model = POOL[spec.pool]!
      const known = held(world).has(model.sha256)
      return one(
        world.node,
        [known ? 'model.push-already' : 'model.bytes-past-size'],
        `pool model ${spec.pool} plus ${spec.extra} B in its last chunk`,
        (t) =>
          pushBytes(
            t,
            model.hash,
            concat(model.bytes, new Uint8Array(spec.extra)),
            model.bytes.byteLength,
            model.bytes.byteLength + spec.extra,
          ),
      )
    }
    case 'chunk-too-large': {
      const bytes = new Uint8Array(spec.data).fill(1)
      return one(world.node, ['model.chunk-too-large'], `one ModelChunk of ${spec.data} B`, (t) =>
        pushBytes(t, sha256(bytes), bytes, bytes.byteLength, bytes.byteLength),
      )
    }
    case 'push-short': {
      const hash = sha256(spec.bytes)
      const input = `announce ${spec.bytes.byteLength} B, send ${spec.keep}, close`
      const t = await Transfer.open(world.node, world)
      if (t === undefined) return [{ expect: ['model.push-short'], input, outcome: 'refused' }]
      let ended: string
      try {
        await t.send(frame(request(PUSH, hash, spec.bytes.byteLength)))
        const first = await t.reply('reply')
        if (first.outcome !== 'reply:OK') return [{ expect: ['model.push-short'], input, outcome: first.outcome }]
        if (spec.keep > 0) await t.send(chunk(spec.bytes.subarray(0, spec.keep)))
        await t.raw.closeWrite(t.deadline)
        ended = (await t.reply('stored')).outcome
      } finally {
        t.abort()
      }
      if (ended === 'hang') return [{ expect: ['model.push-short'], input, outcome: 'hang' }]
      const after = await fetchModel(world, hash)
      return [
        {
          expect: ['model.push-short'],
          input: `${input} (the push ended: ${ended})`,
          outcome: after === 'reply:MODEL_NOT_FOUND' ? 'not-stored' : `fetch: ${after}`,
        },
      ]
    }
    case 'fetch-valid': {
      const outcome = await fetchModel(world, MODELS[spec.which].hash, stranger(spec.stranger))
      return [
        {
          expect: [spec.stranger ? 'model.not-authorized' : 'model.fetch-valid'],
          input: `${spec.stranger ? 'stranger ' : ''}fetch the ${spec.which} model`,
          outcome,
        },
      ]
    }
    case 'fetch-unknown': {
      const outcome = await fetchModel(world, spec.hash, stranger(spec.stranger))
      return [
        {
          expect: spec.stranger ? ['model.not-authorized', 'model.fetch-unknown'] : ['model.fetch-unknown'],
          input: `${spec.stranger ? 'stranger ' : ''}fetch ${hex(spec.hash, 8)}`,
          outcome,
        },
      ]
    }
    case 'bad-request':
      return one(world.node, ['model.bad-request'], spec.what, async (t) => {
        await t.send(frame(spec.request))
        return (await t.reply('reply')).outcome
      })
    case 'random': {
      const d = decodability(spec.bytes, MODEL_REQUEST)
      const fields = rawFields(spec.bytes) ?? []
      const kind = Number((fields.filter((f) => f.field === 1).at(-1)?.value as bigint | undefined) ?? 0n)
      const hash = fields.filter((f) => f.field === 2).at(-1)?.value
      const bad = kind !== PUSH && kind !== FETCH ? true : !(hash instanceof Uint8Array) || hash.byteLength !== 32
      const expect: ExpectationId[] =
        d === 'does-not-decode'
          ? ['model.undecodable']
          : d === 'ambiguous'
            ? ['model.undecodable', 'model.bad-request']
            : bad
              ? ['model.bad-request']
              : ['model.fetch-unknown', 'model.push-too-large', 'model.push-at-limit', 'model.undecodable']
      return one(world.node, expect, `random ${spec.bytes.byteLength} B ${hex(spec.bytes)}`, async (t) => {
        await t.send(frame(spec.bytes))
        await t.raw.closeWrite(t.deadline)
        return (await t.reply('reply')).outcome
      })
    }
    case 'truncated':
      return one(
        world.node,
        ['model.undecodable'],
        `request frame of ${frame(spec.bytes).byteLength} B cut at ${spec.cut}, then closed`,
        async (t) => {
          await t.send(frame(spec.bytes).subarray(0, spec.cut))
          await t.raw.closeWrite(t.deadline)
          return (await t.reply('reply')).outcome
        },
      )
    case 'oversized-request':
      return one(world.node, ['model.oversized-request'], `a FETCH padded to ${spec.size} B`, async (t) => {
        await t.send(frame(padTo(request(FETCH, MODELS.add.hash), spec.size)))
        return (await t.reply('reply')).outcome
      })
    case 'lying':
      return one(
        world.node,
        ['model.oversized-request', 'model.undecodable'],
        `request prefix claims ${spec.claimed} B`,
        async (t) => {
          await t.send(lyingFrame(request(FETCH, MODELS.add.hash), spec.claimed))
          await t.raw.closeWrite(t.deadline)
          return (await t.reply('reply')).outcome
        },
      )
  }
}

export function modelCases(seed: number, count: number): FuzzCase[] {
  return sample(specArb, seed, count).map(
    (spec): FuzzCase => ({
      protocol: 'model',
      timing: 'fast',
      label: `model ${spec.kind}`,
      boundMs: CASE_MS,
      run: (world) => runSpec(world, spec),
    }),
  )
}

/** A push that stops sending chunks: the provider gives up within its 30 s between chunks. */
export function modelSlowCases(seed: number, count: number): FuzzCase[] {
  // A stall after one chunk, and before any.
  const keeps = [28, 0]
  return Array.from({ length: count }, (_, i) => keeps[(i + seed) % keeps.length]!).map(
    (keep): FuzzCase => ({
      protocol: 'model',
      timing: 'slow',
      quiet: true,
      label: `push that stalls after ${keep} B`,
      boundMs: CHUNK_GAP_MS + SLACK_MS,
      async run(world) {
        const bytes = new Uint8Array(1000).fill(2)
        const input = `announce 1000 B, send ${keep}, then nothing`
        // From the leased node (a push needs a lease), after the fast loop: it holds one of the 4 transfers for 30 s.
        const t = await Transfer.open(world.node, world, CHUNK_GAP_MS + SLACK_MS)
        if (t === undefined) return [{ expect: ['model.stalled'], input, outcome: 'refused' }]
        try {
          await t.send(frame(request(PUSH, sha256(bytes), 1000)))
          const first = await t.reply('reply')
          if (first.outcome !== 'reply:OK') {
            // Refused before any chunk (the client's own lease lapsed, say): nothing stalled, nothing to judge.
            return [{ expect: ['model.stalled'], input: `${input}: refused ${first.outcome}`, outcome: VOID }]
          }
          if (keep > 0) await t.send(chunk(bytes.subarray(0, keep)))
          const end = await t.reply('stored')
          return [{ expect: ['model.stalled'], input, outcome: end.outcome === 'hang' ? 'hang' : 'ended' }]
        } finally {
          t.abort()
        }
      },
    }),
  )
}

/** A push in progress, then a second transfer from the same peer (1 per peer). */
export function modelExclusiveCases(): FuzzCase[] {
  return [
    {
      protocol: 'model',
      timing: 'exclusive',
      label: "a peer's 2nd concurrent transfer",
      boundMs: 10_000,
      async run(world) {
        const held = await Transfer.open(world.node, world)
        if (held === undefined) return [{ expect: ['model.busy'], input: 'a push to hold', outcome: 'could not open' }]
        try {
          await held.send(frame(request(PUSH, sha256(Uint8Array.from([9, 1, 2, 3])), 1000)))
          const first = await held.reply('reply')
          if (first.outcome !== 'reply:OK') {
            return [{ expect: ['model.busy'], input: 'a push to hold', outcome: `could not hold: ${first.outcome}` }]
          }
          const results = await runSpec(world, { kind: 'fetch-valid', which: 'add', stranger: false })
          return results.map((r) => ({ ...r, expect: ['model.busy'], input: 'FETCH while the same peer pushes' }))
        } finally {
          held.abort()
        }
      },
    },
  ]
}

/** One case of every kind: every model expectation is met on every run. */
export function modelCoverage(): FuzzCase[] {
  const specs: ModelSpec[] = [
    { kind: 'push-valid', pool: 0, chunkBytes: 7, stranger: false },
    { kind: 'push-valid', pool: 0, chunkBytes: 7, stranger: false },
    { kind: 'push-valid', pool: POOL.length - 1, chunkBytes: MAX_CHUNK - 16, stranger: false },
    { kind: 'push-valid', pool: 1, chunkBytes: 64, stranger: true },
    { kind: 'push-too-large', size: BigInt(MAX_MODEL + 1), stranger: false },
    { kind: 'push-too-large', size: 1n << 53n, stranger: false },
    { kind: 'push-at-limit' },
    { kind: 'hash-mismatch', bytes: Uint8Array.from([1, 2, 3]), hash: new Uint8Array(32).fill(1), chunkBytes: 1 },
    { kind: 'hash-mismatch', bytes: new Uint8Array(), hash: new Uint8Array(32).fill(2), chunkBytes: 1 },
    { kind: 'invalid-model', bytes: Uint8Array.from([9, 9, 9, 9]), chunkBytes: 2 },
    { kind: 'bytes-past-size', pool: 2, extra: 10 },
    { kind: 'chunk-too-large', data: 2 * MAX_CHUNK },
    { kind: 'push-short', bytes: new Uint8Array(100).fill(3), keep: 50 },
    { kind: 'fetch-valid', which: 'identity', stranger: false },
    { kind: 'fetch-valid', which: 'add', stranger: true },
    { kind: 'fetch-unknown', hash: new Uint8Array(32).fill(0xcd), stranger: false },
    { kind: 'bad-request', request: request(FETCH, new Uint8Array(31)), what: 'FETCH with a 31-byte sha256' },
    { kind: 'bad-request', request: request(PUSH, new Uint8Array(33), 100), what: 'PUSH with a 33-byte sha256' },
    { kind: 'bad-request', request: request(0, new Uint8Array(32), 100), what: 'kind 0' },
    { kind: 'bad-request', request: request(7, new Uint8Array(32), 100), what: 'kind 7' },
    { kind: 'random', bytes: Uint8Array.from([0xff, 0xff]) },
    { kind: 'truncated', bytes: request(FETCH, MODELS.add.hash), cut: 10 },
    { kind: 'oversized-request', size: MAX_CHUNK + 65 },
    { kind: 'lying', claimed: 1n << 32n },
    { kind: 'lying', claimed: (1n << 64n) - 1n },
  ]
  return specs.map((spec) => ({
    protocol: 'model',
    timing: 'fast',
    label: `model coverage ${spec.kind}`,
    boundMs: CASE_MS,
    run: (world) => runSpec(world, spec),
  }))
}
