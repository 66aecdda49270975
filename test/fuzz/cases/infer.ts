import * as fc from 'fast-check'
import { InferResponse } from '../../../src/compute/pb/compute.js'
import type { ParkbenchNode } from '../../../src/net/create-node.js'
import { type CaseResult, type FuzzCase, hex, SLACK_MS, VOID } from '../case.js'
import { bytesArb, readAll, sample } from '../exchange.js'
import type { ExpectationId } from '../expectations.js'
import { bytesField, decodability, INFER_REQUEST, message, rawFields, varintField } from '../proto.js'
import { INFER_PROTOCOL } from '../readme-renter.js'
import { concat, frame, lyingFrame, RawStream } from '../wire.js'
import { type FuzzWorld, IDENTITY_TYPES, MODELS } from '../world.js'

/** README: "64 MiB per frame (configurable) | job 60 s incl. queue; first frame 30 s; idle stream 60 s | 32". */
const MAX_FRAME = 64 * 1024 * 1024
const FIRST_FRAME_MS = 30_000
const MAX_STREAMS = 32
/** Long enough for every job of a case (the slow model's run, a queue behind it) with room to spare. */
const CASE_MS = 15_000

/** ONNX TensorProto.DataType numbers and element sizes (README "Tensors"). */
const DTYPES: Record<(typeof IDENTITY_TYPES)[number], { code: number; size: number }> = {
  float32: { code: 1, size: 4 },
  uint8: { code: 2, size: 1 },
  int8: { code: 3, size: 1 },
  uint16: { code: 4, size: 2 },
  int16: { code: 5, size: 2 },
  int32: { code: 6, size: 4 },
  int64: { code: 7, size: 8 },
  string: { code: 8, size: 0 },
  bool: { code: 9, size: 1 },
  float16: { code: 10, size: 2 },
  float64: { code: 11, size: 8 },
  uint32: { code: 12, size: 4 },
  uint64: { code: 13, size: 8 },
}
const SIZE_BY_CODE = new Map(Object.values(DTYPES).map((d) => [d.code, d.size]))
const STRING = 8
const BOOL = 9

/** One tensor as the wire carries it (any values, whatever the rules say). */
interface WireTensor {
  name: string
  dataType: number
  dims: bigint[]
  raw: Uint8Array
  strings: Uint8Array[]
}

interface WireRequest {
  hash: Uint8Array
  tensors: WireTensor[]
  outputNames: string[]
  deadlineMs: number
  id: number
  cancel: boolean
}

/** A model as the client knows it (it built them; the offer lists the same). */
interface Signature {
  inputs: Array<{ name: string; code: number; dims: Array<number | 'sym'> }>
  outputs: string[]
}

const SIGNATURES = new Map<string, Signature>([
  [
    MODELS.add.sha256,
    {
      inputs: [
        { name: 'a', code: 1, dims: [2, 3] },
        { name: 'b', code: 1, dims: [2, 3] },
      ],
      outputs: ['y'],
    },
  ],
  [
    MODELS.identity.sha256,
    {
      inputs: IDENTITY_TYPES.map((t) => ({ name: `x_${t}`, code: DTYPES[t].code, dims: ['sym' as const] })),
      outputs: IDENTITY_TYPES.map((t) => `y_${t}`),
    },
  ],
  [
    MODELS.slow.sha256,
    {
      inputs: [
        { name: 'a', code: 1, dims: ['sym', 'sym'] },
        { name: 'b', code: 1, dims: ['sym', 'sym'] },
      ],
      outputs: ['y'],
    },
  ],
])

export function encodeTensor(t: WireTensor): Uint8Array {
  return message(
    bytesField(1, t.name),
    t.dataType !== 0 && varintField(2, t.dataType),
    ...t.dims.map((d) => varintField(3, d)),
    t.raw.byteLength > 0 && bytesField(4, t.raw),
    ...t.strings.map((s) => bytesField(5, s)),
  )
}

export function encodeRequest(r: WireRequest): Uint8Array {
  return message(
    bytesField(1, r.hash),
    ...r.tensors.map((t) => bytesField(2, encodeTensor(t))),
    ...r.outputNames.map((n) => bytesField(3, n)),
    r.deadlineMs !== 0 && varintField(4, r.deadlineMs),
    r.id !== 0 && varintField(5, r.id),
    r.cancel && varintField(6, 1),
  )
}

/** proto3 decoding of an InferRequest from bytes that decode: last scalar wins, repeated fields append. */
function decodeRequest(bytes: Uint8Array): WireRequest | undefined {
  const fields = rawFields(bytes)
  if (fields === undefined) return undefined
  const r: WireRequest = { hash: new Uint8Array(), tensors: [], outputNames: [], deadlineMs: 0, id: 0, cancel: false }
  const utf8 = (b: Uint8Array): string => Buffer.from(b).toString('utf8')
  for (const f of fields) {
    if (f.field === 1 && f.value instanceof Uint8Array) r.hash = f.value
    else if (f.field === 2 && f.value instanceof Uint8Array) {
      const t: WireTensor = { name: '', dataType: 0, dims: [], raw: new Uint8Array(), strings: [] }
      for (const g of rawFields(f.value) ?? []) {
        if (g.field === 1 && g.value instanceof Uint8Array) t.name = utf8(g.value)
        else if (g.field === 2 && typeof g.value === 'bigint') t.dataType = Number(BigInt.asIntN(32, g.value))
        else if (g.field === 3 && typeof g.value === 'bigint') t.dims.push(g.value)
        else if (g.field === 4 && g.value instanceof Uint8Array) t.raw = g.value
        else if (g.field === 5 && g.value instanceof Uint8Array) t.strings.push(g.value)
      }
      r.tensors.push(t)
    } else if (f.field === 3 && f.value instanceof Uint8Array) r.outputNames.push(utf8(f.value))
    else if (f.field === 4 && typeof f.value === 'bigint') r.deadlineMs = Number(f.value & 0xffffffffn)
    else if (f.field === 5 && typeof f.value === 'bigint') r.id = Number(f.value & 0xffffffffn)
    else if (f.field === 6 && typeof f.value === 'bigint') r.cancel = f.value !== 0n
  }
  return r
}

/**
 * Which expectations a request falls under, from the README's rules (several when it breaks several: the README
 * orders none of them). `leased`: the sender holds a paid lease.
 */
export function judgeRequest(r: WireRequest, leased: boolean): ExpectationId[] {
  const out: ExpectationId[] = []
  // The classes a decoder is likeliest to trip on come first: the report files an input under its first class.
  if (r.tensors.some((t) => !SIZE_BY_CODE.has(t.dataType))) out.push('infer.dtype-unsupported')
  if (r.tensors.some((t) => t.dims.some((d) => d >= 1n << 53n))) out.push('infer.huge-dims')
  const signature = r.hash.byteLength === 32 ? SIGNATURES.get(Buffer.from(r.hash).toString('hex')) : undefined
  if (signature !== undefined && inputsInvalid(r, signature)) out.push('infer.invalid-input')
  if (r.hash.byteLength !== 32) out.push('infer.bad-hash')
  else if (signature === undefined) out.push('infer.model-not-found')
  if (!leased) out.push('infer.not-authorized')
  if (out.length === 0) out.push('infer.valid')
  return out
}

/** README "Tensors" and the infer request rules, as far as INVALID_INPUT goes. */
function inputsInvalid(r: WireRequest, signature: Signature): boolean {
  const seen = new Set<string>()
  for (const t of r.tensors) {
    const spec = signature.inputs.find((s) => s.name === t.name)
    if (spec === undefined || seen.has(t.name)) return true
    seen.add(t.name)
    if (spec.code !== t.dataType) return true
    if (t.dims.length > 32 || spec.dims.length !== t.dims.length) return true
    if (spec.dims.some((d, i) => d !== 'sym' && t.dims[i] !== BigInt(d))) return true
    const count = t.dims.reduce((a, b) => a * b, 1n)
    if (t.dataType === STRING) {
      if (t.raw.byteLength > 0 || BigInt(t.strings.length) !== count) return true
    } else if (BigInt(t.raw.byteLength) !== count * BigInt(SIZE_BY_CODE.get(t.dataType)!) || t.strings.length > 0) {
      return true
    }
  }
  if (signature.inputs.some((s) => !seen.has(s.name))) return true
  if (r.outputNames.some((n) => !signature.outputs.includes(n))) return true
  return new Set(r.outputNames).size !== r.outputNames.length
}

// ------------------------------------------------------------------ generators

const utf8Arb = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.constantFrom('a\u0000b', '\u0000', 'żółw', '🦀', 'x'.repeat(300), ''),
)

/** A valid tensor for `type` with `n` elements. */
function validTensorArb(name: string, type: (typeof IDENTITY_TYPES)[number], n: number): fc.Arbitrary<WireTensor> {
  const { code, size } = DTYPES[type]
  if (type === 'string') {
    return fc.array(utf8Arb, { minLength: n, maxLength: n }).map((s) => ({
      name,
      dataType: code,
      dims: [BigInt(n)],
      raw: new Uint8Array(),
      strings: s.map((x) => new TextEncoder().encode(x)),
    }))
  }
  const raw =
    type === 'bool'
      ? fc.array(fc.constantFrom(0, 1), { minLength: n, maxLength: n }).map((a) => Uint8Array.from(a))
      : bytesArb(n * size, n * size)
  return raw.map((r) => ({ name, dataType: code, dims: [BigInt(n)], raw: r, strings: [] }))
}

const lengthArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 16 }) },
  { weight: 1, arbitrary: fc.integer({ min: 17, max: 4096 }) },
)

const identityArb: fc.Arbitrary<WireRequest> = fc
  .tuple(...IDENTITY_TYPES.map((t) => lengthArb.chain((n) => validTensorArb(`x_${t}`, t, n))))
  .chain((tensors) =>
    fc.record({
      tensors: fc.shuffledSubarray(tensors, { minLength: tensors.length, maxLength: tensors.length }),
      outputNames: fc.oneof(
        fc.constant([] as string[]),
        fc.shuffledSubarray(
          IDENTITY_TYPES.map((t) => `y_${t}`),
          { minLength: 1 },
        ),
      ),
    }),
  )
  .map(({ tensors, outputNames }) => ({
    hash: MODELS.identity.hash,
    tensors,
    outputNames,
    deadlineMs: 0,
    id: 0,
    cancel: false,
  }))

const f32 = (values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer)

const addArb: fc.Arbitrary<WireRequest> = fc
  .tuple(
    fc.array(fc.float({ noNaN: true }), { minLength: 6, maxLength: 6 }),
    fc.array(fc.float({ noNaN: true }), { minLength: 6, maxLength: 6 }),
  )
  .map(([a, b]) => ({
    hash: MODELS.add.hash,
    tensors: [
      { name: 'a', dataType: 1, dims: [2n, 3n], raw: f32(a), strings: [] },
      { name: 'b', dataType: 1, dims: [2n, 3n], raw: f32(b), strings: [] },
    ],
    outputNames: [],
    deadlineMs: 0,
    id: 0,
    cancel: false,
  }))

/** A job on the slow model: [n, n] MatMul 24 deep; at n = 384 some tens of ms on this box. */
function slowRequest(id: number, n = 384, deadlineMs = 0): WireRequest {
  const ones = f32(new Array(n * n).fill(0.5))
  return {
    hash: MODELS.slow.hash,
    tensors: [
      { name: 'a', dataType: 1, dims: [BigInt(n), BigInt(n)], raw: ones, strings: [] },
      { name: 'b', dataType: 1, dims: [BigInt(n), BigInt(n)], raw: ones, strings: [] },
    ],
    outputNames: [],
    deadlineMs,
    id,
    cancel: false,
  }
}

const validArb = fc.oneof({ weight: 3, arbitrary: identityArb }, { weight: 2, arbitrary: addArb })

const BOUNDARY_DIMS = [0n, 1n, 2n, 3n, (1n << 31n) - 1n, 1n << 32n, (1n << 53n) + 1n, (1n << 64n) - 1n]

/** One mutation of a valid request: a field at or just past its boundary, or a rule broken. */
const mutationArb = fc.oneof(
  fc.record({
    m: fc.constant('hash-length' as const),
    len: fc.oneof(
      fc.constantFrom(0, 1, 31, 33, 64),
      fc.integer({ min: 0, max: 80 }).filter((n) => n !== 32),
    ),
  }),
  fc.record({ m: fc.constant('hash-unknown' as const), hash: bytesArb(32, 32) }),
  fc.record({
    m: fc.constant('dtype' as const),
    code: fc.oneof(
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 14, max: 23 }),
      fc.constantFrom(24, 99, 2 ** 31 - 1, -1),
    ),
  }),
  fc.record({
    m: fc.constant('dims' as const),
    dims: fc.array(fc.oneof(fc.constantFrom(...BOUNDARY_DIMS), fc.bigInt({ min: 0n, max: 64n })), { maxLength: 40 }),
  }),
  fc.record({ m: fc.constant('rank-33' as const) }),
  fc.record({
    m: fc.constant('raw-length' as const),
    delta: fc.oneof(
      fc.constantFrom(-1, 1, -8, 8),
      fc.integer({ min: -64, max: 64 }).filter((d) => d !== 0),
    ),
  }),
  fc.record({ m: fc.constant('drop-input' as const) }),
  fc.record({ m: fc.constant('repeat-input' as const) }),
  fc.record({ m: fc.constant('unknown-input' as const), name: fc.string({ maxLength: 10 }) }),
  fc.record({ m: fc.constant('rename-input' as const), name: fc.string({ maxLength: 10 }) }),
  fc.record({ m: fc.constant('unknown-output' as const), name: fc.string({ maxLength: 10 }) }),
  fc.record({ m: fc.constant('repeat-output' as const) }),
  fc.record({ m: fc.constant('string-raw' as const), raw: bytesArb(1, 16) }),
  fc.record({ m: fc.constant('string-count' as const), delta: fc.constantFrom(-1, 1, 5) }),
  fc.record({ m: fc.constant('strings-on-numeric' as const) }),
  fc.record({ m: fc.constant('id' as const), id: fc.constantFrom(0, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1) }),
  fc.record({ m: fc.constant('deadline' as const), ms: fc.constantFrom(0, 60_000, 2 ** 32 - 1) }),
)

type Mutation = typeof mutationArb extends fc.Arbitrary<infer M> ? M : never

function mutate(request: WireRequest, mutation: Mutation, pick: number): WireRequest {
  const r: WireRequest = {
    ...request,
    tensors: request.tensors.map((t) => ({ ...t })),
    outputNames: [...request.outputNames],
  }
  const target = r.tensors[pick % Math.max(1, r.tensors.length)]
  switch (mutation.m) {
    case 'hash-length':
      r.hash = new Uint8Array(mutation.len).fill(7)
      break
    case 'hash-unknown':
      r.hash = mutation.hash
      break
    case 'dtype':
      if (target) target.dataType = mutation.code
      break
    case 'dims':
      if (target) target.dims = mutation.dims
      break
    case 'rank-33':
      if (target) target.dims = [...target.dims, ...new Array(33 - target.dims.length).fill(1n)]
      break
    case 'raw-length':
      if (target && target.dataType !== STRING) {
        const length = Math.max(0, target.raw.byteLength + mutation.delta)
        target.raw = concat(target.raw, new Uint8Array(64)).subarray(0, length)
      }
      break
    case 'drop-input':
      r.tensors.splice(pick % Math.max(1, r.tensors.length), 1)
      break
    case 'repeat-input':
      if (target) r.tensors.push({ ...target })
      break
    case 'unknown-input':
      r.tensors.push({ name: `zz${mutation.name}`, dataType: 1, dims: [1n], raw: new Uint8Array(4), strings: [] })
      break
    case 'rename-input':
      if (target) target.name = `${target.name}${mutation.name}_`
      break
    case 'unknown-output':
      r.outputNames.push(`no_${mutation.name}`)
      break
    case 'repeat-output':
      r.outputNames = r.outputNames.length > 0 ? [...r.outputNames, r.outputNames[0]!] : ['y', 'y']
      break
    case 'string-raw': {
      const s = r.tensors.find((t) => t.dataType === STRING)
      if (s) s.raw = mutation.raw
      break
    }
    case 'string-count': {
      const s = r.tensors.find((t) => t.dataType === STRING)
      if (s)
        s.strings =
          mutation.delta < 0
            ? s.strings.slice(0, mutation.delta)
            : [...s.strings, ...new Array(mutation.delta).fill(new Uint8Array([0x61]))]
      break
    }
    case 'strings-on-numeric':
      if (target && target.dataType !== STRING) target.strings = [new Uint8Array([0x61])]
      break
    case 'id':
      r.id = mutation.id
      break
    case 'deadline':
      r.deadlineMs = mutation.ms
      break
  }
  return r
}

const fieldRequestArb: fc.Arbitrary<WireRequest> = fc
  .tuple(validArb, fc.array(mutationArb, { maxLength: 2 }), fc.nat(), fc.integer({ min: 1, max: 2 ** 32 - 1 }))
  .map(([valid, mutations, pick, id]) => mutations.reduce((r, m) => mutate(r, m, pick), { ...valid, id }))
  .map((r) => (r.id === FOLLOW_UP_ID ? { ...r, id: r.id - 1 } : r))

type InferSpec =
  | { kind: 'requests'; requests: WireRequest[]; stranger: boolean; closeAfter: boolean }
  | { kind: 'duplicate-id' }
  | { kind: 'cancel' }
  | { kind: 'cancel-unknown'; id: number }
  | { kind: 'deadline'; ms: number }
  | { kind: 'random'; bytes: Uint8Array }
  | { kind: 'bad-wire'; bytes: Uint8Array; what: string }
  | { kind: 'truncated'; bytes: Uint8Array; cut: number }
  | { kind: 'oversized'; claimed: bigint }

/** Distinct ids for a pipeline. */
function withDistinctIds(requests: WireRequest[]): WireRequest[] {
  const used = new Set<number>()
  return requests.map((r, i) => {
    let id = r.id
    // No id 0 in a pipeline: a frame-level answer carries id 0 too.
    while (used.has(id) || id === FOLLOW_UP_ID || id === 0) id = (id + 1 + i) % 2 ** 32
    used.add(id)
    return { ...r, id }
  })
}

const specArb: fc.Arbitrary<InferSpec> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('requests' as const),
      requests: fieldRequestArb.map((r) => [r]),
      stranger: fc.constant(false),
      closeAfter: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('requests' as const),
      requests: fc.array(fieldRequestArb, { minLength: 2, maxLength: 40 }).map(withDistinctIds),
      stranger: fc.constant(false),
      closeAfter: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('requests' as const),
      requests: fc.oneof(validArb, fieldRequestArb).map((r) => [r]),
      stranger: fc.constant(true),
      closeAfter: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'duplicate-id' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'cancel' as const }) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 2 ** 32 - 2 }).map((id) => ({ kind: 'cancel-unknown' as const, id })),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }).map((ms) => ({ kind: 'deadline' as const, ms })) },
  { weight: 3, arbitrary: bytesArb(0, 600).map((bytes) => ({ kind: 'random' as const, bytes })) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        // model_sha256 as a varint, a tensor as a varint, a tensor whose dims field is a fixed32, data_type as bytes.
        fc.constant({
          what: 'model_sha256 as a varint',
          bytes: message(varintField(1, 5), bytesField(2, new Uint8Array())),
        }),
        fc.constant({
          what: 'a tensor as a varint',
          bytes: message(bytesField(1, MODELS.add.hash), varintField(2, 3)),
        }),
        fc.constant({
          what: 'data_type as bytes',
          bytes: message(bytesField(1, MODELS.add.hash), bytesField(2, bytesField(2, 'x'))),
        }),
        fc.constant({
          what: 'a tensor that ends mid-field',
          bytes: message(bytesField(1, MODELS.add.hash), bytesField(2, Uint8Array.from([0x22, 0x10, 1, 2]))),
        }),
        fc.constant({
          what: 'id as a fixed64',
          bytes: message(bytesField(1, MODELS.add.hash), Uint8Array.from([0x29, 1, 2, 3, 4, 5, 6, 7, 8])),
        }),
        fc.constant({ what: 'wire type 7', bytes: Uint8Array.from([0x0f, 0x01]) }),
      )
      .map((b) => ({ kind: 'bad-wire' as const, ...b })),
  },
  {
    weight: 2,
    arbitrary: fieldRequestArb
      .map((r) => encodeRequest(r))
      .filter((b) => b.byteLength >= 2)
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
      .oneof(
        fc.constantFrom(BigInt(MAX_FRAME + 1), BigInt(MAX_FRAME + 2), 1n << 32n, 1n << 53n, (1n << 63n) - 1n),
        fc.bigInt({ min: BigInt(MAX_FRAME + 1), max: 1n << 40n }),
      )
      .map((claimed) => ({ kind: 'oversized' as const, claimed })),
  },
)

// ------------------------------------------------------------------ execution

/** The request after every case: its answer shows the stream carried on. */
// Not a boundary value: fast-check's generators lean towards those, and a case must never reuse this id.
const FOLLOW_UP_ID = 1_592_651_793

function followUp(): WireRequest {
  return {
    hash: MODELS.add.hash,
    tensors: [
      { name: 'a', dataType: 1, dims: [2n, 3n], raw: f32([1, 2, 3, 4, 5, 6]), strings: [] },
      { name: 'b', dataType: 1, dims: [2n, 3n], raw: f32([1, 1, 1, 1, 1, 1]), strings: [] },
    ],
    outputNames: [],
    deadlineMs: 0,
    id: FOLLOW_UP_ID,
    cancel: false,
  }
}

interface Answered {
  responses: InferResponse[]
  undecodable: number
  end: 'closed' | 'reset' | 'silent' | 'refused'
}

/**
 * Send `bytes` (frames) on a new stream, then `second`, then the follow-up request (if `followUp`), and read every
 * answer until the stream ends or `waitMs` (default CASE_MS) passes.
 */
async function converse(
  node: ParkbenchNode,
  world: FuzzWorld,
  bytes: Uint8Array,
  options: { closeAfter: boolean; followUp: boolean; gapMs?: number; second?: Uint8Array; waitMs?: number },
): Promise<Answered> {
  const deadline = Date.now() + (options.waitMs ?? CASE_MS)
  let raw: RawStream
  try {
    raw = new RawStream(
      await node.dialProtocol(world.renter.addrs, INFER_PROTOCOL, { signal: AbortSignal.timeout(5_000) }),
    )
  } catch {
    return { responses: [], undecodable: 0, end: 'refused' }
  }
  try {
    await raw.send(bytes, deadline)
    if (options.second !== undefined) {
      if (options.gapMs != null) await new Promise((r) => setTimeout(r, options.gapMs))
      await raw.send(options.second, deadline)
    }
    if (options.followUp) await raw.send(frame(encodeRequest(followUp())), deadline)
    if (options.closeAfter || options.followUp) await raw.closeWrite(deadline)
    const got = await readAll(raw, deadline)
    const responses: InferResponse[] = []
    let undecodable = 0
    for (const f of got.frames) {
      try {
        responses.push(InferResponse.decode(f))
      } catch {
        undecodable++
      }
    }
    // Our wait (CASE_MS) is shorter than the provider's own 30 s first-frame deadline: silence within it is not (yet)
    // a hang, only no answer.
    return { responses, undecodable, end: got.end === 'hang' ? 'silent' : got.end }
  } finally {
    raw.abort()
  }
}

const followedUp = (a: Answered): boolean => a.responses.some((r) => r.id === FOLLOW_UP_ID)

/** The outcome for request `id`: its status, and whether the stream carried on past it. */
function statusOutcome(a: Answered, id: number): string {
  const mine = a.responses.filter((r) => r.id === id)
  const carried = followedUp(a) ? '' : `+stream-${a.end === 'silent' ? 'silent' : 'ended'}`
  if (mine.length === 0) {
    const frameLevel = a.responses.find((r) => r.id === 0 && id !== 0)
    if (frameLevel !== undefined) return `id0:${frameLevel.status}${carried}`
    return a.end === 'silent' ? 'no-answer-in-time' : `no-answer${carried}`
  }
  if (mine.length > 1) return `answered-${mine.length}-times`
  return `${mine[0]!.status}${carried}`
}

/** For OK answers, is the content what the README says (Identity returns its inputs, strings cut at a NUL; Add adds)? */
function contentOk(request: WireRequest, response: InferResponse): boolean {
  const model = Buffer.from(request.hash).toString('hex')
  if (model === MODELS.add.sha256) {
    const a = new Float32Array(Uint8Array.from(request.tensors.find((t) => t.name === 'a')!.raw).buffer)
    const b = new Float32Array(Uint8Array.from(request.tensors.find((t) => t.name === 'b')!.raw).buffer)
    const y = response.outputs.find((o) => o.name === 'y')
    if (y === undefined || y.rawData.byteLength !== 24) return false
    const got = new Float32Array(Uint8Array.from(y.rawData).buffer)
    return [...got].every((v, i) => Object.is(v, Math.fround(a[i]! + b[i]!)))
  }
  if (model === MODELS.identity.sha256) {
    const wanted = request.outputNames.length > 0 ? request.outputNames : IDENTITY_TYPES.map((t) => `y_${t}`)
    if (response.outputs.length !== wanted.length) return false
    for (const name of wanted) {
      const out = response.outputs.find((o) => o.name === name)
      const input = request.tensors.find((t) => t.name === `x_${name.slice(2)}`)
      if (out === undefined || input === undefined) return false
      if (out.dims.join(',') !== input.dims.join(',')) return false
      if (input.dataType === STRING) {
        const cut = input.strings.map((s) => Buffer.from(s).toString('utf8').split('\u0000')[0])
        const got = out.stringData.map((s) => Buffer.from(s).toString('utf8'))
        if (got.join('\u0001') !== cut.join('\u0001')) return false
      } else if (input.dataType === BOOL) {
        if (![...out.rawData].every((v, i) => (v !== 0) === (input.raw[i] !== 0))) return false
      } else if (!Buffer.from(out.rawData).equals(Buffer.from(input.raw))) return false
    }
    return true
  }
  return true
}

function describe(r: WireRequest): string {
  const tensors = r.tensors.map(
    (t) =>
      `${t.name}:${t.dataType}[${t.dims.join(',')}]${t.raw.byteLength}B${t.strings.length > 0 ? `/${t.strings.length}s` : ''}`,
  )
  const model = SIGNATURES.has(Buffer.from(r.hash).toString('hex'))
    ? Buffer.from(r.hash).toString('hex').slice(0, 8)
    : `hash(${r.hash.byteLength} B)`
  return `id ${r.id} ${model} ${tensors.slice(0, 5).join(' ')}${tensors.length > 5 ? ` +${tensors.length - 5}` : ''}${r.outputNames.length > 0 ? ` out=${r.outputNames.slice(0, 3).join(',')}` : ''}${r.deadlineMs ? ` deadline=${r.deadlineMs}` : ''}`
}

async function runSpec(world: FuzzWorld, spec: InferSpec): Promise<CaseResult[]> {
  switch (spec.kind) {
    case 'requests': {
      const node = spec.stranger ? world.stranger : world.node
      const bytes = concat(...spec.requests.map((r) => frame(encodeRequest(r))))
      const a = await converse(node, world, bytes, {
        closeAfter: spec.closeAfter,
        followUp: !spec.closeAfter || spec.requests.length > 1,
      })
      const leased = !spec.stranger
      const single = spec.requests.length === 1
      const sentFollowUp = !spec.closeAfter || !single
      let earlierUnanswered = false
      const results: CaseResult[] = []
      for (const r of spec.requests) {
        const expect = judgeRequest(r, leased)
        const input = `${spec.stranger ? 'stranger ' : ''}${describe(r)}`
        const mine = a.responses.filter((x) => x.id === r.id)
        const frameLevel = r.id !== 0 ? a.responses.find((x) => x.id === 0) : undefined
        let outcome: string
        if (mine.length > 1) outcome = `answered-${mine.length}-times`
        else if (mine.length === 1) {
          const response = mine[0]!
          outcome = String(response.status)
          // An id-0 request answered MALFORMED_REQUEST on a stream that then ended, or that had no hash problem, was
          // answered at frame level.
          const frameLevelZero = (sentFollowUp && !followedUp(a)) || !expect.includes('infer.bad-hash')
          if (r.id === 0 && outcome === 'MALFORMED_REQUEST' && frameLevelZero) {
            outcome = sentFollowUp || !single ? 'id0:MALFORMED_REQUEST' : 'id0:MALFORMED_REQUEST+stream-ended'
          }
          if (single && sentFollowUp && !followedUp(a)) outcome += `+stream-${a.end === 'silent' ? 'silent' : 'ended'}`
          if (outcome === 'OK' && !contentOk(r, response)) outcome = 'OK-bad-output'
        } else if (earlierUnanswered) {
          // The stream died at an earlier request: this one was never read. Judged there, not here.
          outcome = VOID
        } else {
          earlierUnanswered = true
          outcome =
            frameLevel !== undefined
              ? `id0:${frameLevel.status}+stream-ended`
              : a.end === 'silent'
                ? 'no-answer-in-time'
                : 'no-answer+stream-ended'
        }
        results.push({ expect, input, outcome })
      }
      if (spec.requests.length > 1) {
        const ids = new Set(spec.requests.map((r) => r.id))
        const all = [...ids].every((id) => a.responses.filter((x) => x.id === id).length === 1)
        const answered = [...ids].filter((id) => a.responses.some((x) => x.id === id)).length
        results.push({
          expect: ['infer.pipelined'],
          input: `${spec.requests.length} requests pipelined, ${answered} answered, the stream ${a.end}`,
          outcome: all ? 'all-answered' : 'some-unanswered',
        })
      }
      // A leased case that met NOT_AUTHORIZED while the fuzz client's own lease lapsed proves nothing.
      if (leased && !world.paid.active(0))
        return results.map((r) => (r.outcome.startsWith('NOT_AUTHORIZED') ? { ...r, outcome: VOID } : r))
      return results
    }
    case 'duplicate-id': {
      const id = 77
      const first = frame(encodeRequest(slowRequest(id)))
      const a = await converse(world.node, world, first, {
        closeAfter: false,
        followUp: true,
        second: frame(encodeRequest(followUpWithId(id))),
      })
      const statuses = a.responses
        .filter((r) => r.id === id)
        .map((r) => String(r.status))
        .sort()
      const outcome =
        statuses.length === 2 && statuses.includes('MALFORMED_REQUEST') && statuses.includes('OK')
          ? 'MALFORMED_REQUEST'
          : `statuses ${statuses.join(',') || 'none'} (${a.end})`
      return [{ expect: ['infer.duplicate-id'], input: 'a slow job and a second request with its id', outcome }]
    }
    case 'cancel': {
      const id = 91
      const a = await converse(world.node, world, frame(encodeRequest(slowRequest(id))), {
        closeAfter: false,
        followUp: true,
        second: frame(encodeRequest({ ...followUp(), id, cancel: true, tensors: [], hash: new Uint8Array() })),
      })
      const mine = a.responses.filter((r) => r.id === id)
      const aborted = mine.length === 0 || (mine.length === 1 && mine[0]!.status === 'DEADLINE_EXCEEDED')
      const outcome = !followedUp(a)
        ? `stream-ended (${a.end})`
        : aborted
          ? 'cancelled'
          : `not-cancelled:${mine.map((r) => r.status).join(',')}`
      return [{ expect: ['infer.cancel'], input: 'cancel a running slow job', outcome }]
    }
    case 'cancel-unknown': {
      const a = await converse(world.node, world, frame(encodeRequest({ ...followUp(), id: spec.id, cancel: true })), {
        closeAfter: false,
        followUp: true,
      })
      const outcome = !followedUp(a)
        ? `stream-ended (${a.end})`
        : a.responses.some((r) => r.id === spec.id)
          ? 'answered'
          : 'ignored'
      return [{ expect: ['infer.cancel-unknown'], input: `cancel id ${spec.id}, not in flight`, outcome }]
    }
    case 'deadline': {
      const a = await converse(world.node, world, frame(encodeRequest(slowRequest(5, 384, spec.ms))), {
        closeAfter: false,
        followUp: true,
      })
      const timing = a.responses.find((r) => r.id === 5)?.timing
      const took =
        timing === undefined ? '' : ` (queue ${timing.queueMs.toFixed(1)} ms, run ${timing.runMs.toFixed(1)} ms)`
      const outcome = statusOutcome(a, 5)
      // A job that did finish within its deadline (queue and run) was rightly answered OK: nothing to judge.
      if (outcome === 'OK' && timing !== undefined && timing.queueMs + timing.runMs < spec.ms)
        return [{ expect: ['infer.deadline'], input: `slow job${took}`, outcome: VOID }]
      return [{ expect: ['infer.deadline'], input: `slow job, deadline_ms ${spec.ms}${took}`, outcome }]
    }
    case 'random': {
      const d = decodability(spec.bytes, INFER_REQUEST)
      const a = await converse(world.node, world, frame(spec.bytes), { closeAfter: false, followUp: true })
      if (d === 'does-not-decode')
        return [
          {
            expect: ['infer.undecodable'],
            input: `random ${spec.bytes.byteLength} B ${hex(spec.bytes)}`,
            outcome: frameOutcome(a),
          },
        ]
      const decoded = decodeRequest(spec.bytes)
      if (decoded === undefined || d === 'ambiguous') {
        // Decoders may read these bytes either way (as a frame that does not decode, or as some request): the
        // README cannot decide which, so only a frame-level answer or the request's own answer is judged.
        const expect: ExpectationId[] = ['infer.undecodable', ...(decoded ? judgeRequest(decoded, true) : [])]
        const asFrame = frameOutcome(a)
        const input = `random ${spec.bytes.byteLength} B (ambiguous) ${hex(spec.bytes)}`
        if (asFrame === 'id0:MALFORMED_REQUEST+end') return [{ expect, input, outcome: asFrame }]
        const own = decoded === undefined ? undefined : statusOutcome(a, decoded.id)
        if (own === undefined || own.startsWith('no-answer') || asFrame === 'read-as-a-request') {
          return [{ expect, input, outcome: VOID }]
        }
        return [{ expect, input, outcome: own }]
      }
      if (decoded.cancel)
        return [
          {
            expect: ['infer.cancel-unknown'],
            input: `random bytes that decode as a cancel of id ${decoded.id}`,
            outcome: !followedUp(a)
              ? `stream-ended (${a.end})`
              : a.responses.some((r) => r.id === decoded.id)
                ? 'answered'
                : 'ignored',
          },
        ]
      return [
        {
          expect: judgeRequest(decoded, true),
          input: `random ${spec.bytes.byteLength} B that decode: ${describe(decoded)}`,
          outcome: statusOutcome(a, decoded.id),
        },
      ]
    }
    case 'bad-wire': {
      const a = await converse(world.node, world, frame(spec.bytes), { closeAfter: false, followUp: true })
      return [{ expect: ['infer.undecodable'], input: spec.what, outcome: frameOutcome(a) }]
    }
    case 'truncated': {
      const a = await converse(world.node, world, frame(spec.bytes).subarray(0, spec.cut), {
        closeAfter: true,
        followUp: false,
      })
      return [
        {
          expect: ['infer.undecodable'],
          input: `request frame of ${frame(spec.bytes).byteLength} B cut at ${spec.cut}, then closed`,
          outcome: frameOutcome(a),
        },
      ]
    }
    case 'oversized': {
      // Answered at once, the README says: 5 s of silence is no answer (a slow case waits the full 30 s once).
      const a = await converse(world.node, world, lyingFrame(encodeRequest(followUp()).subarray(0, 40), spec.claimed), {
        closeAfter: false,
        followUp: false,
        waitMs: 5_000,
      })
      return [
        {
          expect: ['infer.oversized'],
          input: `first frame's prefix claims ${spec.claimed} B`,
          outcome: frameOutcome(a),
        },
      ]
    }
  }
}

function followUpWithId(id: number): WireRequest {
  return { ...followUp(), id }
}

/** A frame-level outcome: `id0:<status>+end` when answered with id 0 and the stream then ended. */
function frameOutcome(a: Answered): string {
  const zero = a.responses.find((r) => r.id === 0)
  const carried = followedUp(a)
  // The stream went on past the frame: it was (leniently) read as a request, answered with some id or (a cancel) not.
  if (carried) return 'read-as-a-request'
  if (zero !== undefined) return `id0:${zero.status}${a.end === 'silent' ? '+stream-silent' : '+end'}`
  return a.end === 'silent' ? 'no-answer-in-time' : a.end
}

export function inferCases(seed: number, count: number): FuzzCase[] {
  return sample(specArb, seed, count).map(
    (spec): FuzzCase => ({
      protocol: 'infer',
      timing: 'fast',
      label: `infer ${spec.kind}`,
      boundMs: CASE_MS,
      run: (world) => runSpec(world, spec),
    }),
  )
}

/**
 * An infer stream that never sends its first request: the provider ends it within 30 s. And a first frame whose
 * 9-byte prefix claims 2^63 - 1 bytes, waited on as long: the README has it answered TOO_LARGE at once.
 */
export function inferSlowCases(seed: number, count: number): FuzzCase[] {
  // A prefix over the limit is not silence (it is answered TOO_LARGE at once: infer.oversized); a prefix within
  // it whose frame never comes whole is.
  const variants = [new Uint8Array(), Uint8Array.from([0x80]), lyingFrame(new Uint8Array(4), 1_000n)]
  return Array.from({ length: count }, (_, i) => variants[(i + seed) % variants.length]!).map((bytes): FuzzCase => {
    const huge = bytes.byteLength > 1
    const input =
      bytes.byteLength === 0
        ? 'no first request'
        : huge
          ? "a first frame's prefix claims 1,000 B, 4 come, then nothing"
          : 'one byte of a prefix, then nothing'
    return {
      protocol: 'infer',
      timing: 'slow',
      quiet: true,
      label: input,
      boundMs: FIRST_FRAME_MS + SLACK_MS,
      async run(world) {
        const raw = new RawStream(
          await world.slow.dialProtocol(world.renter.addrs, INFER_PROTOCOL, { signal: AbortSignal.timeout(5_000) }),
        )
        try {
          if (bytes.byteLength > 0) await raw.send(bytes, Date.now() + 1_000)
          const got = await readAll(raw, Date.now() + FIRST_FRAME_MS + SLACK_MS)
          return [
            { expect: ['infer.silent'], input, outcome: got.frames.length > 0 ? `answered (${got.end})` : got.end },
          ]
        } finally {
          raw.abort()
        }
      },
    }
  })
}

/**
 * A first frame whose 9-byte length prefix claims 2^63 - 1 bytes, given 5 s (the README has it answered TOO_LARGE
 * at once): in the background, from the slow node, in both runs.
 */
export function inferHugePrefixCase(): FuzzCase {
  const input = "a first frame's 9-byte prefix claims 2^63 - 1 B"
  return {
    protocol: 'infer',
    timing: 'slow',
    label: input,
    boundMs: 5_000 + SLACK_MS,
    async run(world) {
      const a = await converse(world.slow, world, lyingFrame(new Uint8Array(4), (1n << 63n) - 1n), {
        closeAfter: false,
        followUp: false,
        waitMs: 5_000,
      })
      return [{ expect: ['infer.oversized'], input, outcome: frameOutcome(a) }]
    },
  }
}

/** 32 infer streams waiting for their first request on one connection, then a 33rd. */
export function inferExclusiveCases(): FuzzCase[] {
  return [
    {
      protocol: 'infer',
      timing: 'exclusive',
      label: '33rd concurrent infer stream',
      boundMs: 10_000,
      async run(world) {
        const held: RawStream[] = []
        try {
          for (let i = 0; i < MAX_STREAMS; i++) {
            const raw = new RawStream(
              await world.slow.dialProtocol(world.renter.addrs, INFER_PROTOCOL, { signal: AbortSignal.timeout(2_000) }),
            )
            await raw.send(Uint8Array.from([0x80]), Date.now() + 1_000)
            held.push(raw)
          }
          await new Promise((r) => setTimeout(r, 100))
          let outcome: string
          try {
            const raw = new RawStream(
              await world.slow.dialProtocol(world.renter.addrs, INFER_PROTOCOL, { signal: AbortSignal.timeout(2_000) }),
            )
            await raw.send(frame(encodeRequest(followUp())), Date.now() + 2_000)
            const got = await readAll(raw, Date.now() + 3_000, { maxFrames: 1 })
            outcome = got.frames.length > 0 ? 'served' : got.end
            raw.abort()
          } catch {
            outcome = 'reset'
          }
          return [{ expect: ['infer.streams'], input: '33rd stream while 32 wait for a first request', outcome }]
        } finally {
          for (const raw of held) raw.abort()
        }
      },
    },
  ]
}

/** One case of every kind, each rule broken once: every infer expectation is met on every run. */
export function inferCoverage(): FuzzCase[] {
  const add = followUp()
  const [identity] = sample(identityArb, 5, 1)
  const mutations: Mutation[] = [
    { m: 'hash-length', len: 31 },
    { m: 'hash-unknown', hash: new Uint8Array(32).fill(0xab) },
    { m: 'dtype', code: 16 },
    { m: 'dtype', code: 22 },
    { m: 'dtype', code: 99 },
    { m: 'dtype', code: 7 },
    { m: 'dims', dims: [1n << 53n] },
    { m: 'dims', dims: [(1n << 64n) - 1n] },
    { m: 'dims', dims: [3n, 2n] },
    { m: 'dims', dims: [1n << 30n, 1n << 30n] },
    { m: 'rank-33' },
    { m: 'raw-length', delta: -1 },
    { m: 'drop-input' },
    { m: 'repeat-input' },
    { m: 'unknown-input', name: 'q' },
    { m: 'unknown-output', name: 'q' },
    { m: 'repeat-output' },
    { m: 'string-raw', raw: Uint8Array.from([1, 2]) },
    { m: 'string-count', delta: 1 },
  ]
  const one = (r: WireRequest, stranger = false, closeAfter = false): InferSpec => ({
    kind: 'requests',
    requests: [r],
    stranger,
    closeAfter,
  })
  const specs: InferSpec[] = [
    one({ ...add, id: 1 }),
    one({ ...add, id: 0 }, false, true),
    one({ ...identity!, id: 2 ** 32 - 1 }),
    one({ ...add, id: 3 }, true),
    ...mutations.map((m, i) => one(mutate({ ...(m.m.startsWith('string') ? identity! : add), id: 100 + i }, m, 0))),
    {
      kind: 'requests',
      requests: withDistinctIds(
        [add, identity!, mutate(add, { m: 'raw-length', delta: 4 }, 0), add].map((r, i) => ({ ...r, id: 200 + i })),
      ),
      stranger: false,
      closeAfter: false,
    },
    { kind: 'duplicate-id' },
    { kind: 'cancel' },
    { kind: 'cancel-unknown', id: 12_345 },
    { kind: 'deadline', ms: 1 },
    { kind: 'random', bytes: Uint8Array.from([0xff, 0xff, 0xff]) },
    {
      kind: 'bad-wire',
      what: 'a tensor as a varint',
      bytes: message(bytesField(1, MODELS.add.hash), varintField(2, 3)),
    },
    { kind: 'truncated', bytes: encodeRequest(add), cut: 20 },
    { kind: 'oversized', claimed: BigInt(MAX_FRAME + 1) },
    { kind: 'oversized', claimed: 1n << 40n },
  ]
  return specs.map((spec) => ({
    protocol: 'infer',
    timing: 'fast',
    label: `infer coverage ${spec.kind}`,
    boundMs: CASE_MS,
    run: (world) => runSpec(world, spec),
  }))
}
