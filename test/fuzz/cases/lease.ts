import { randomBytes } from 'node:crypto'
import * as fc from 'fast-check'
import { bytesToHex, type Hex, hexToBytes } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { LeaseReply, LeaseRequest, ProviderMessage, RenterMessage } from '../../../src/lease/pb/lease.js'
import type { SignedTickCommitment, Tick, Voucher } from '../../../src/pay/pb/pay.js'
import { type CaseResult, type FuzzCase, hex, SLACK_MS, VOID } from '../case.js'
import { bytesArb, sample } from '../exchange.js'
import type { ExpectationId } from '../expectations.js'
import { bytesField, decodability, LEASE_REQUEST, message, RENTER_MESSAGE, varintField } from '../proto.js'
import {
  amountFromBytes,
  type CommitmentFields,
  hashChain,
  LEASE_PROTOCOL,
  ReadmeRenter,
  renterMessage,
  type StartedLease,
} from '../readme-renter.js'
import { frame, lyingFrame, padTo, RawStream } from '../wire.js'
import { type FuzzWorld, MODELS, PRICE, THREADS } from '../world.js'
import { httpExchange } from './control.js'

/** README: "4 KiB per frame | request 5 s; ACCEPT before the quote expires (10 s); ticks every 1 s + 0.5 s grace | 8". */
const MAX_FRAME = 4096
const REQUEST_MS = 5_000
const QUOTE_TTL_MS = 10_000
const GRACE_MS = 500
const MAX_MODELS = 16
/** Ticks one commitment may cover at most (README "Commitment checks" rule 1). */
const MAX_COMMITMENT_TICKS = 3_600
const CASE_MS = 12_000
const DEPOSIT = 10n ** 18n

/** Someone who controls no channel: signatures by it fail "it recovers to the channel's renter". */
const STRANGER = privateKeyToAccount(generatePrivateKey())

// ------------------------------------------------------------------ requests

type RequestFault =
  | { f: 'none' }
  | { f: 'models-over-16'; n: number }
  | { f: 'model-length'; len: number }
  | { f: 'channel-length'; len: number }
  | { f: 'seconds-0' }
  | { f: 'price-low'; price: bigint }
  | { f: 'model-unknown'; hash: Uint8Array }
  | { f: 'channel-unknown'; id: Uint8Array }
  | { f: 'channel-foreign' }
  | { f: 'channel-in-lease' }
  | { f: 'insufficient'; seconds: number }
  | { f: 'threads'; threads: number }

interface RequestSpec {
  price: bigint
  seconds: number
  threads: number
  models: Array<'add' | 'identity' | 'slow'>
  faults: RequestFault[]
}

const requestFaultArb: fc.Arbitrary<RequestFault> = fc.oneof(
  fc.integer({ min: MAX_MODELS + 1, max: 40 }).map((n) => ({ f: 'models-over-16' as const, n })),
  fc
    .oneof(
      fc.constantFrom(0, 31, 33),
      fc.integer({ min: 0, max: 64 }).filter((n) => n !== 32),
    )
    .map((len) => ({ f: 'model-length' as const, len })),
  fc
    .oneof(
      fc.constantFrom(0, 20, 31, 33),
      fc.integer({ min: 0, max: 64 }).filter((n) => n !== 32),
    )
    .map((len) => ({ f: 'channel-length' as const, len })),
  fc.constant({ f: 'seconds-0' as const }),
  fc
    .oneof(fc.constantFrom(0n, PRICE - 1n), fc.bigInt({ min: 0n, max: PRICE - 1n }))
    .map((price) => ({ f: 'price-low' as const, price })),
  bytesArb(32, 32).map((hash) => ({ f: 'model-unknown' as const, hash })),
  bytesArb(32, 32).map((id) => ({ f: 'channel-unknown' as const, id })),
  fc.constant({ f: 'channel-foreign' as const }),
  fc.constant({ f: 'channel-in-lease' as const }),
  fc
    .oneof(fc.constantFrom(2, 3, 600, 2 ** 32 - 1), fc.integer({ min: 2, max: 100_000 }))
    .map((seconds) => ({ f: 'insufficient' as const, seconds })),
  fc
    .oneof(fc.constantFrom(THREADS + 1, 2 ** 31, 2 ** 32 - 1), fc.integer({ min: THREADS + 1, max: 1_000_000 }))
    .map((threads) => ({ f: 'threads' as const, threads })),
)

const requestSpecArb: fc.Arbitrary<RequestSpec> = fc.record({
  price: fc.oneof(
    fc.constantFrom(PRICE, PRICE + 1n, (1n << 32n) - 1n, 1n << 32n, (1n << 64n) - 1n),
    fc.bigInt({ min: PRICE, max: (1n << 64n) - 1n }),
  ),
  seconds: fc.oneof(fc.constantFrom(1, 2, 600, 601, 2 ** 31, 2 ** 32 - 1), fc.integer({ min: 1, max: 100_000 })),
  threads: fc.constantFrom(1, 1, 2),
  models: fc.array(fc.constantFrom('add' as const, 'identity' as const, 'slow' as const), { maxLength: MAX_MODELS }),
  faults: fc.oneof(
    { weight: 1, arbitrary: fc.constant(null).map((): RequestFault[] => [{ f: 'none' }]) },
    { weight: 3, arbitrary: fc.array(requestFaultArb, { minLength: 1, maxLength: 2 }) },
  ),
})

/** The request's bytes and the expectation the README's order of checks gives it. */
function buildRequest(
  world: FuzzWorld,
  spec: RequestSpec,
  channel: Hex,
): { request: LeaseRequest; expect: ExpectationId; input: string } {
  const r: LeaseRequest = {
    models: spec.models.map((m) => Uint8Array.from(MODELS[m].hash)),
    maxPricePerSecond: spec.price,
    seconds: spec.seconds,
    threads: spec.threads,
    channelId: hexToBytes(channel) as Uint8Array<ArrayBuffer>,
  }
  for (const fault of spec.faults) {
    switch (fault.f) {
      case 'models-over-16':
        r.models = Array.from({ length: fault.n }, () => Uint8Array.from(MODELS.add.hash))
        break
      case 'model-length':
        r.models = [...r.models, new Uint8Array(fault.len).fill(4)]
        break
      case 'channel-length':
        r.channelId = new Uint8Array(fault.len).fill(5)
        break
      case 'seconds-0':
        r.seconds = 0
        break
      case 'price-low':
        r.maxPricePerSecond = fault.price
        break
      case 'model-unknown':
        r.models = [...r.models, Uint8Array.from(fault.hash)]
        break
      case 'channel-unknown':
        r.channelId = Uint8Array.from(fault.id)
        break
      case 'channel-foreign':
        r.channelId = hexToBytes(world.foreignChannel) as Uint8Array<ArrayBuffer>
        break
      case 'channel-in-lease':
        r.channelId = hexToBytes(world.paid.channelId) as Uint8Array<ArrayBuffer>
        break
      case 'insufficient':
        r.channelId = hexToBytes(world.smallChannel) as Uint8Array<ArrayBuffer>
        r.seconds = fault.seconds
        break
      case 'threads':
        r.threads = fault.threads
        break
      case 'none':
        break
    }
  }
  // README step 2: "The provider checks, in order: ... room for another negotiation; request well-formed; price >=
  // its own; it holds every model; the channel ...; the unspent deposit covers the granted seconds; it has the
  // threads free." The first rule broken is the status.
  const wellFormed =
    r.models.length <= MAX_MODELS &&
    r.models.every((m) => m.byteLength === 32) &&
    r.channelId.byteLength === 32 &&
    r.seconds >= 1
  const heldModels = r.models.every((m) => world.heldModels.has(Buffer.from(m).toString('hex')))
  const asked = bytesToHex(r.channelId)
  const ours = world.leaseChannels.includes(asked) || asked === world.smallChannel
  const granted = Math.min(r.seconds, 600)
  const funded = asked !== world.smallChannel || granted * Number(PRICE) <= Number(PRICE)
  let expect: ExpectationId
  if (!wellFormed) expect = 'lease.bad-request'
  else if (r.maxPricePerSecond < PRICE) expect = 'lease.price-too-low'
  else if (!heldModels) expect = 'lease.model-not-found'
  else if (!ours) expect = 'lease.channel-invalid'
  else if (!funded) expect = 'lease.insufficient-funds'
  else if (r.threads > THREADS - 1) expect = 'lease.busy-threads'
  else expect = 'lease.quote'
  const input = `request price ${r.maxPricePerSecond} seconds ${r.seconds} threads ${r.threads} models ${r.models.length}${r.models.some((m) => m.byteLength !== 32) ? '(bad length)' : ''} channel ${hex(r.channelId, 6)} faults ${spec.faults.map((f) => f.f).join(',')}`
  return { request: r, expect, input }
}

/** Check a quote as README step 2 describes it; '' when it is right, else what is wrong. */
function quoteProblem(
  world: FuzzWorld,
  request: LeaseRequest,
  quote: ReturnType<typeof Object> & Awaited<ReturnType<ReadmeRenter['verifyQuote']>>,
): string {
  if (quote === undefined) return 'signature'
  const q = quote.quote
  const now = Date.now()
  if (!Buffer.from(q.renterPeerId).equals(Buffer.from(world.node.peerId.toMultihash().bytes))) return 'renter'
  if (!Buffer.from(q.channelId).equals(Buffer.from(request.channelId))) return 'channel'
  if (q.pricePerSecond !== PRICE) return 'price'
  if (q.amountPerTick !== (q.pricePerSecond * BigInt(q.tickIntervalMs)) / 1000n) return 'amount_per_tick'
  if (q.maxSeconds < 1 || q.maxSeconds > request.seconds) return 'max_seconds'
  if (Number(q.expiresAtMs) <= now || Number(q.expiresAtMs) > now + QUOTE_TTL_MS + SLACK_MS) return 'expiry'
  if (q.leaseId.byteLength !== 32) return 'lease_id'
  return ''
}

// ------------------------------------------------------------------ one lease stream

/** What the lease stream said back, frame by frame, with a bound on every wait. */
class LeaseStream {
  constructor(
    readonly raw: RawStream,
    readonly deadline: number,
  ) {}

  static async open(world: FuzzWorld, node = world.node): Promise<LeaseStream | undefined> {
    try {
      return new LeaseStream(
        new RawStream(
          await node.dialProtocol(world.renter.addrs, LEASE_PROTOCOL, { signal: AbortSignal.timeout(5_000) }),
        ),
        Date.now() + CASE_MS,
      )
    } catch {
      return undefined
    }
  }

  send(bytes: Uint8Array): Promise<boolean> {
    return this.raw.send(bytes, this.deadline)
  }

  async reply(): Promise<{ outcome: string; reply?: LeaseReply }> {
    const read = await this.raw.readFrame(this.deadline)
    if ('timeout' in read) return { outcome: 'hang' }
    if ('end' in read) return { outcome: read.end }
    try {
      const reply = LeaseReply.decode(read.frame)
      return { outcome: `LeaseReply:${reply.status}`, reply }
    } catch {
      return { outcome: 'undecodable-reply' }
    }
  }

  /** The next ProviderMessage (waiting at most `ms`), or how the stream ended. */
  async next(ms = CASE_MS): Promise<{ message?: ProviderMessage; end?: string }> {
    const read = await this.raw.readFrame(Math.min(this.deadline, Date.now() + ms))
    if ('timeout' in read) return { end: 'hang' }
    if ('end' in read) return { end: read.end }
    try {
      return { message: ProviderMessage.decode(read.frame) }
    } catch {
      return { end: 'undecodable-reply' }
    }
  }

  abort(): void {
    this.raw.abort()
  }
}

/** The daemon's own record of a lease's end, from GET /v1/leases on its control socket (bounded). */
async function recordedEnd(world: FuzzWorld, leaseId: Hex, waitMs = 3_000): Promise<string> {
  const deadline = Date.now() + waitMs
  while (Date.now() < deadline) {
    const answer = await httpExchange(
      world.controlSocket,
      [new TextEncoder().encode('GET /v1/leases HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n')],
      { deadlineMs: 2_000 },
    )
    try {
      const lease = (
        JSON.parse(answer.body ?? '{}').leases as Array<{ leaseId: string; state: string; endReason?: string }>
      ).find((l) => l.leaseId === leaseId)
      if (lease?.state === 'ended') return lease.endReason ?? 'none'
    } catch {}
    await new Promise((r) => setTimeout(r, 50))
  }
  return 'still-active'
}

/** How a running lease ended: the ENDED frame's reason (checked against the record), or the stream's end and the record. */
async function endOutcome(world: FuzzWorld, s: LeaseStream, leaseId: Hex, waitMs: number): Promise<string> {
  const deadline = Date.now() + waitMs
  while (Date.now() < deadline) {
    const { message, end } = await s.next(deadline - Date.now())
    if (message?.kind === 'ENDED') {
      const recorded = await recordedEnd(world, leaseId)
      return recorded === message.endReason
        ? `ENDED:${message.endReason}`
        : `ENDED:${message.endReason}/recorded:${recorded}`
    }
    // Anything else answers the frame instead of ending the lease (an acknowledgement of a message that should fail).
    if (message !== undefined) return message.status === 'OK' ? message.kind : `${message.kind}:${message.status}`
    // No end within the wait: the lease goes on (the provider is metering it, not hung).
    if (end === 'hang') return `no-end/recorded:${await recordedEnd(world, leaseId, 500)}`
    return `${end}/recorded:${await recordedEnd(world, leaseId)}`
  }
  return `no-end/recorded:${await recordedEnd(world, leaseId, 500)}`
}

/**
 * What the provider has accepted on `channel` (GET /v1/channels, `acceptedOffChain`): the base a new commitment
 * must be at or above. Falls back to the client's own upper bound.
 */
async function acceptedTotal(world: FuzzWorld, channel: Hex): Promise<bigint> {
  const answer = await httpExchange(
    world.controlSocket,
    [new TextEncoder().encode('GET /v1/channels HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n')],
    { deadlineMs: 2_000 },
  )
  try {
    const found = (
      JSON.parse(answer.body ?? '{}').channels as Array<{ channelId: string; acceptedOffChain: string }>
    ).find((c) => c.channelId.toLowerCase() === channel.toLowerCase())
    return found === undefined ? 0n : BigInt(found.acceptedOffChain)
  } catch {
    return world.renter.totals.get(channel) ?? 0n
  }
}

/** Channels for leases that start: one lease at a time each, so wait for the last one on it to end. */
async function leaseChannel(world: FuzzWorld, n: number): Promise<Hex> {
  const channels = world.leaseChannels.slice(1)
  const channel = channels[n % channels.length]!
  const last = lastLease.get(channel)
  if (last !== undefined) {
    await recordedEnd(world, last, 5_000)
    lastLease.delete(channel)
  }
  return channel
}
const lastLease = new Map<Hex, Hex>()
let leaseCounter = 0

// ------------------------------------------------------------------ ACCEPT

/** Every way a commitment is broken on purpose (the type, the generator and the fixed list share it). */
const COMMITMENT_FAULTS = [
  'chain',
  'contract',
  'channel',
  'lease',
  'signer',
  'sig-64',
  'sig-high-s',
  'sig-v',
  'sha256',
  'hash-fn-unknown',
  'ticks-0',
  'ticks-over-3600',
  'amount-per-tick',
  'amount-leading-zero',
  'amount-17-bytes',
  'base-below-total',
  'base-over-deposit',
  'garbage',
  'empty',
  'edited-after-signing',
] as const
type CommitmentFault = (typeof COMMITMENT_FAULTS)[number]

type AcceptSpec =
  | { a: 'valid'; ticks: 'granted' | 'one' | 'random'; baseExtra: bigint; v01: boolean }
  | { a: 'bad'; fault: CommitmentFault; garbage: Uint8Array }
  | { a: 'over-granted'; extra: number }
  | { a: 'wrong-kind'; kind: number }
  | { a: 'end' }
  | { a: 'undecodable'; bytes: Uint8Array }
  | { a: 'oversized'; size: number; lying: boolean }

const acceptSpecArb: fc.Arbitrary<AcceptSpec> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      a: fc.constant('valid' as const),
      ticks: fc.constantFrom('granted' as const, 'one' as const, 'random' as const),
      baseExtra: fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 10n ** 6n })),
      v01: fc.boolean(),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      a: fc.constant('bad' as const),
      fault: fc.constantFrom(...COMMITMENT_FAULTS),
      garbage: bytesArb(1, 300),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      a: fc.constant('over-granted' as const),
      extra: fc.integer({ min: 1, max: MAX_COMMITMENT_TICKS }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      a: fc.constant('wrong-kind' as const),
      kind: fc.oneof(fc.constantFrom(0, 2, 3, 4), fc.constantFrom(6, 7, 99, 2 ** 31 - 1, -1)),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ a: 'end' as const }) },
  {
    weight: 1,
    arbitrary: bytesArb(1, 400)
      .filter((b) => decodability(b, RENTER_MESSAGE) === 'does-not-decode')
      .map((bytes) => ({ a: 'undecodable' as const, bytes })),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      a: fc.constant('oversized' as const),
      size: fc.oneof(
        fc.constantFrom(MAX_FRAME + 1, MAX_FRAME + 2, 65_536),
        fc.integer({ min: MAX_FRAME + 1, max: 100_000 }),
      ),
      lying: fc.boolean(),
    }),
  },
)

const N_HALF = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

/** An ACCEPT's bytes for `quote`, and the expectation it falls under. */
async function buildAccept(
  world: FuzzWorld,
  spec: AcceptSpec,
  lease: {
    leaseId: Hex
    channelId: Hex
    amountPerTick: bigint
    grantedTicks: number
    base: bigint
    chain: Uint8Array[]
  },
): Promise<{ bytes: Uint8Array; expect: ExpectationId; input: string; maxTicks: number; base: bigint }> {
  const renter = world.renter
  const fields: CommitmentFields = {
    chainId: BigInt(renter.chain.chainId),
    contract: renter.chain.contract,
    channelId: lease.channelId,
    leaseId: lease.leaseId,
    tip: lease.chain[lease.grantedTicks]!,
    hashFunction: 0,
    amountPerTick: lease.amountPerTick,
    baseAmount: lease.base,
    maxTicks: lease.grantedTicks,
  }
  const accept = (commitment: Uint8Array) =>
    frame(RenterMessage.encode(renterMessage(RenterMessage.Kind.ACCEPT, { commitment })))
  switch (spec.a) {
    case 'valid': {
      const maxTicks =
        spec.ticks === 'granted'
          ? lease.grantedTicks
          : spec.ticks === 'one'
            ? 1
            : Math.max(1, Math.floor(lease.grantedTicks / 2))
      const base = lease.base + spec.baseExtra
      const f = { ...fields, maxTicks, tip: lease.chain[maxTicks]!, baseAmount: base }
      const commitment = await renter.commitment(f, (m) =>
        spec.v01 ? { ...m, signature: withV(m.signature, m.signature[64]! - 27) } : m,
      )
      return {
        bytes: accept(commitment),
        expect: 'lease.accept-valid',
        input: `ACCEPT ${maxTicks} ticks, base +${spec.baseExtra}${spec.v01 ? ', v as 0/1' : ''}`,
        maxTicks,
        base,
      }
    }
    case 'over-granted': {
      const maxTicks = Math.min(MAX_COMMITMENT_TICKS, lease.grantedTicks + spec.extra)
      const chain = hashChain(maxTicks)
      const commitment = await renter.commitment({ ...fields, maxTicks, tip: chain[maxTicks]! })
      return {
        bytes: accept(commitment),
        expect: maxTicks > lease.grantedTicks ? 'lease.accept-over-granted' : 'lease.accept-valid',
        input: `ACCEPT ${maxTicks} ticks of ${lease.grantedTicks} granted`,
        maxTicks,
        base: lease.base,
      }
    }
    case 'bad': {
      const bytes = accept(await badCommitment(world, spec.fault, fields, spec.garbage))
      return {
        bytes,
        expect: 'lease.accept-bad-commitment',
        input: `ACCEPT with a commitment: ${spec.fault}`,
        maxTicks: 0,
        base: lease.base,
      }
    }
    case 'wrong-kind': {
      const bytes = frame(message(spec.kind !== 0 && varintField(1, spec.kind), bytesField(3, new Uint8Array(10))))
      return {
        bytes,
        expect: 'lease.accept-wrong-kind',
        input: `kind ${spec.kind} instead of ACCEPT`,
        maxTicks: 0,
        base: lease.base,
      }
    }
    case 'end':
      return {
        bytes: frame(RenterMessage.encode(renterMessage(RenterMessage.Kind.END))),
        expect: 'lease.accept-end',
        input: 'END instead of ACCEPT',
        maxTicks: 0,
        base: lease.base,
      }
    case 'undecodable':
      return {
        bytes: frame(spec.bytes),
        expect: 'lease.accept-undecodable',
        input: `undecodable ${spec.bytes.byteLength} B ${hex(spec.bytes)} instead of ACCEPT`,
        maxTicks: 0,
        base: lease.base,
      }
    case 'oversized': {
      const body = padTo(RenterMessage.encode(renterMessage(RenterMessage.Kind.ACCEPT)), spec.size)
      const bytes = spec.lying ? lyingFrame(body.subarray(0, 20), spec.size) : frame(body)
      return {
        bytes,
        expect: 'lease.accept-undecodable',
        input: `a ${spec.size} B${spec.lying ? ' (claimed)' : ''} frame instead of ACCEPT`,
        maxTicks: 0,
        base: lease.base,
      }
    }
  }
}

function withV(signature: Uint8Array, v: number): Uint8Array<ArrayBuffer> {
  const out = Uint8Array.from(signature)
  out[64] = v
  return out
}

/** A commitment that fails one payment check (README "Commitment checks"). */
async function badCommitment(
  world: FuzzWorld,
  fault: CommitmentFault,
  fields: CommitmentFields,
  garbage: Uint8Array,
): Promise<Uint8Array> {
  const renter = world.renter
  const sign = (f: Partial<CommitmentFields>, edit?: (m: SignedTickCommitment) => SignedTickCommitment) =>
    renter.commitment({ ...fields, ...f }, edit)
  switch (fault) {
    case 'chain':
      return sign({ chainId: fields.chainId + 1n })
    case 'contract':
      return sign({ contract: bytesToHex(randomBytes(20)) })
    case 'channel':
      return sign({ channelId: world.leaseChannels[0]! })
    case 'lease':
      return sign({ leaseId: bytesToHex(randomBytes(32)) })
    case 'signer': {
      const other = new ReadmeRenter({
        node: renter.node,
        provider: renter.provider,
        addrs: renter.addrs,
        chain: renter.chain,
        account: STRANGER,
      })
      return other.commitment(fields)
    }
    case 'sig-64':
      return sign({}, (m) => ({ ...m, signature: m.signature.subarray(0, 64) as Uint8Array<ArrayBuffer> }))
    case 'sig-high-s':
      return sign({}, (m) => {
        const s = BigInt(bytesToHex(m.signature.subarray(32, 64)))
        const high = s <= N_HALF ? SECP256K1_N - s : s
        const out = Uint8Array.from(m.signature)
        out.set(hexToBytes(`0x${high.toString(16).padStart(64, '0')}`), 32)
        out[64] = out[64] === 27 ? 28 : 27
        return { ...m, signature: out }
      })
    case 'sig-v':
      return sign({}, (m) => ({ ...m, signature: withV(m.signature, 5) }))
    case 'sha256':
      return sign({ hashFunction: 1 })
    case 'hash-fn-unknown': {
      // hash_function 7 (no such HashFunction): written by hand, as no codec would.
      const ok = await sign({})
      return Uint8Array.from([...ok, ...varintField(6, 7)])
    }
    case 'ticks-0':
      return sign({ maxTicks: 0 })
    case 'ticks-over-3600':
      return sign({ maxTicks: MAX_COMMITMENT_TICKS + 1 })
    case 'amount-per-tick':
      return sign({ amountPerTick: fields.amountPerTick + 1n })
    case 'amount-leading-zero':
      return sign({}, (m) => ({ ...m, amountPerTick: Uint8Array.from([0, ...m.amountPerTick]) }))
    case 'amount-17-bytes':
      return sign({}, (m) => ({ ...m, baseAmount: Uint8Array.from([1, ...new Uint8Array(16)]) }))
    case 'base-below-total':
      // Below the channel's accepted total (or, on a fresh channel, the impossible: below zero is not sendable, so
      // the same base for an amount per tick that is not the quote's).
      return fields.baseAmount > 0n ? sign({ baseAmount: fields.baseAmount - 1n }) : sign({ amountPerTick: 0n })
    case 'base-over-deposit':
      return sign({ baseAmount: DEPOSIT })
    case 'garbage':
      return garbage
    case 'empty':
      return new Uint8Array()
    case 'edited-after-signing':
      return sign({}, (m) => ({ ...m, tip: Uint8Array.from(randomBytes(32)) }))
  }
}

// ------------------------------------------------------------------ running

type RunAction =
  | { r: 'tick' }
  | { r: 'voucher' }
  | { r: 'renew' }
  | { r: 'end'; voucher: boolean }
  | { r: 'bad-tick'; how: 'preimage' | 'skip' | 'repeat' | 'zero' | 'lease' | 'garbage' | 'short' | 'past-max' }
  | {
      r: 'bad-voucher'
      how: 'signer' | 'over-deposit' | 'not-increasing' | 'channel' | 'chain' | 'contract' | 'sig-64' | 'garbage'
    }
  | { r: 'bad-renew'; fault: CommitmentFault }
  | { r: 'unexpected'; kind: number }
  | { r: 'undecodable'; bytes: Uint8Array }
  | { r: 'oversized'; size: number; lying: boolean }
  | { r: 'silence' }
  | { r: 'reset' }

const finalActionArb: fc.Arbitrary<RunAction> = fc.oneof(
  { weight: 3, arbitrary: fc.boolean().map((voucher) => ({ r: 'end' as const, voucher })) },
  {
    weight: 4,
    arbitrary: fc
      .constantFrom('preimage', 'skip', 'repeat', 'zero', 'lease', 'garbage', 'short', 'past-max')
      .map((how) => ({ r: 'bad-tick' as const, how: how as 'preimage' })),
  },
  {
    weight: 4,
    arbitrary: fc
      .constantFrom('signer', 'over-deposit', 'not-increasing', 'channel', 'chain', 'contract', 'sig-64', 'garbage')
      .map((how) => ({ r: 'bad-voucher' as const, how: how as 'signer' })),
  },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom<CommitmentFault>(
        'chain',
        'signer',
        'sha256',
        'ticks-0',
        'amount-per-tick',
        'base-below-total',
        'garbage',
      )
      .map((fault) => ({ r: 'bad-renew' as const, fault })),
  },
  {
    weight: 2,
    arbitrary: fc
      .oneof(fc.constantFrom(0, 1), fc.constantFrom(6, 7, 99, 2 ** 31 - 1, -1))
      .map((kind) => ({ r: 'unexpected' as const, kind })),
  },
  {
    weight: 2,
    arbitrary: bytesArb(1, 400)
      .filter((b) => decodability(b, RENTER_MESSAGE) === 'does-not-decode')
      .map((bytes) => ({ r: 'undecodable' as const, bytes })),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      r: fc.constant('oversized' as const),
      size: fc.oneof(
        fc.constantFrom(MAX_FRAME + 1, MAX_FRAME + 2, 65_536),
        fc.integer({ min: MAX_FRAME + 1, max: 100_000 }),
      ),
      lying: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ r: 'silence' as const }) },
  { weight: 1, arbitrary: fc.constant({ r: 'reset' as const }) },
)

const runSpecArb = fc.record({
  before: fc.array(fc.constantFrom<RunAction>({ r: 'tick' }, { r: 'tick' }, { r: 'voucher' }, { r: 'renew' }), {
    maxLength: 5,
  }),
  final: finalActionArb,
})

/** The lease as the renter tracks it while it runs. */
interface Running {
  s: LeaseStream
  lease: StartedLease
  /** Ticks accepted under the current commitment, and the channel total they reach. */
  ticks: number
  total: bigint
  lastVoucher: bigint
}

async function expectAck(
  r: Running,
  kind: 'TICK_ACK' | 'VOUCHER_ACK' | 'RENEWED',
  check: (m: ProviderMessage) => boolean,
): Promise<string> {
  const { message, end } = await r.s.next(5_000)
  if (message === undefined) return end === 'hang' ? 'hang' : `${end}`
  if (message.kind !== kind)
    return message.kind === 'ENDED' ? `ENDED:${message.endReason}` : `${message.kind}:${message.status}`
  return message.status === 'OK' && check(message)
    ? kind
    : `${kind}-bad-${message.status !== 'OK' ? message.status : 'fields'}`
}

async function runAction(world: FuzzWorld, r: Running, action: RunAction): Promise<CaseResult> {
  const renter = world.renter
  const per = r.lease.quote.amountPerTick
  const tickMsg = (edit: (t: Tick) => Tick, index = r.ticks + 1) => renter.tickFrame(r.lease, index, edit)
  const voucherMsg = async (total: bigint, edit?: (v: Voucher) => Voucher) =>
    frame(
      RenterMessage.encode(
        renterMessage(RenterMessage.Kind.VOUCHER, { voucher: await renter.voucher(r.lease.channelId, total, edit) }),
      ),
    )
  const final =
    (expect: ExpectationId, input: string, waitMs = 3_000) =>
    async (): Promise<CaseResult> => ({
      expect: [expect],
      input,
      outcome: await endOutcome(world, r.s, r.lease.leaseId, waitMs),
    })
  switch (action.r) {
    case 'tick': {
      const k = r.ticks + 1
      if (k > r.lease.maxTicks) return { expect: ['lease.tick-valid'], input: 'tick past the chain', outcome: VOID }
      await r.s.send(tickMsg((t) => t, k))
      renter.noteTick(r.lease, k)
      const want = r.lease.baseAmount + BigInt(k) * per
      const outcome = await expectAck(r, 'TICK_ACK', (m) => amountFromBytes(m.total) === want)
      if (outcome === 'TICK_ACK') {
        r.ticks = k
        r.total = want
      }
      return { expect: ['lease.tick-valid'], input: `tick ${k}`, outcome }
    }
    case 'voucher': {
      if (r.total <= r.lastVoucher)
        return { expect: ['lease.voucher-valid'], input: 'voucher with nothing new to cover', outcome: VOID }
      await r.s.send(await voucherMsg(r.total))
      const outcome = await expectAck(r, 'VOUCHER_ACK', () => true)
      if (outcome === 'VOUCHER_ACK') r.lastVoucher = r.total
      return { expect: ['lease.voucher-valid'], input: `voucher for ${r.total}`, outcome }
    }
    case 'renew': {
      const maxTicks = 30
      const chain = hashChain(maxTicks)
      const commitment = await renter.commitment({
        chainId: BigInt(renter.chain.chainId),
        contract: renter.chain.contract,
        channelId: r.lease.channelId,
        leaseId: r.lease.leaseId,
        tip: chain[maxTicks]!,
        hashFunction: 0,
        amountPerTick: per,
        baseAmount: r.total,
        maxTicks,
      })
      await r.s.send(frame(RenterMessage.encode(renterMessage(RenterMessage.Kind.RENEW, { commitment }))))
      const outcome = await expectAck(r, 'RENEWED', () => true)
      if (outcome === 'RENEWED') {
        r.lease.chain = chain
        r.lease.maxTicks = maxTicks
        r.lease.baseAmount = r.total
        r.lease.ticksSent = 0
        r.ticks = 0
      }
      return { expect: ['lease.renew-valid'], input: `RENEW at total ${r.total}`, outcome }
    }
    case 'end': {
      const voucher =
        action.voucher && r.total > r.lastVoucher ? await renter.voucher(r.lease.channelId, r.total) : undefined
      await r.s.send(frame(RenterMessage.encode(renterMessage(RenterMessage.Kind.END, voucher ? { voucher } : {}))))
      return final('lease.end', `END${voucher ? ' with a voucher' : ''}`)()
    }
    case 'bad-tick': {
      const k = r.ticks + 1
      const frames: Record<typeof action.how, () => Uint8Array> = {
        preimage: () => tickMsg((t) => ({ ...t, preimage: Uint8Array.from(randomBytes(32)) })),
        skip: () => tickMsg((t) => t, k + 1),
        repeat: () => (r.ticks > 0 ? tickMsg((t) => t, r.ticks) : tickMsg((t) => ({ ...t, index: 0 }))),
        zero: () => tickMsg((t) => ({ ...t, index: 0 })),
        lease: () => tickMsg((t) => ({ ...t, leaseId: Uint8Array.from(randomBytes(32)) })),
        garbage: () =>
          frame(
            RenterMessage.encode(renterMessage(RenterMessage.Kind.TICK, { tick: Uint8Array.from([0xff, 0xff, 0xff]) })),
          ),
        short: () => tickMsg((t) => ({ ...t, preimage: t.preimage.subarray(0, 31) as Uint8Array<ArrayBuffer> })),
        'past-max': () => tickMsg((t) => ({ ...t, index: r.lease.maxTicks + 1 })),
      }
      await r.s.send(frames[action.how]())
      return final('lease.bad-tick', `tick: ${action.how}`)()
    }
    case 'bad-voucher': {
      const total = r.total + 1n
      const bytes: Record<typeof action.how, () => Promise<Uint8Array>> = {
        signer: async () => {
          const other = new ReadmeRenter({
            node: renter.node,
            provider: renter.provider,
            addrs: renter.addrs,
            chain: renter.chain,
            account: STRANGER,
          })
          return frame(
            RenterMessage.encode(
              renterMessage(RenterMessage.Kind.VOUCHER, { voucher: await other.voucher(r.lease.channelId, total) }),
            ),
          )
        },
        'over-deposit': () => voucherMsg(DEPOSIT + 1n),
        // The channel's previous voucher may be from an earlier lease (and below this one's base): send one now, then
        // the same again, which is not above it.
        'not-increasing': async () => {
          if (r.lastVoucher <= r.lease.baseAmount && r.total > r.lastVoucher) {
            await r.s.send(await voucherMsg(r.total))
            if ((await expectAck(r, 'VOUCHER_ACK', () => true)) === 'VOUCHER_ACK') r.lastVoucher = r.total
          }
          return voucherMsg(r.lastVoucher)
        },
        channel: () =>
          voucherMsg(total, (v) => ({
            ...v,
            channelId: hexToBytes(world.leaseChannels[0]!) as Uint8Array<ArrayBuffer>,
          })),
        chain: () => voucherMsg(total, (v) => ({ ...v, chainId: v.chainId + 1n })),
        contract: () => voucherMsg(total, (v) => ({ ...v, contract: Uint8Array.from(randomBytes(20)) })),
        'sig-64': () =>
          voucherMsg(total, (v) => ({ ...v, signature: v.signature.subarray(0, 64) as Uint8Array<ArrayBuffer> })),
        garbage: async () =>
          frame(
            RenterMessage.encode(renterMessage(RenterMessage.Kind.VOUCHER, { voucher: Uint8Array.from([0x0a, 0xff]) })),
          ),
      }
      await r.s.send(await bytes[action.how]())
      return final('lease.bad-voucher', `voucher: ${action.how}`)()
    }
    case 'bad-renew': {
      const maxTicks = 30
      const chain = hashChain(maxTicks)
      const fields: CommitmentFields = {
        chainId: BigInt(renter.chain.chainId),
        contract: renter.chain.contract,
        channelId: r.lease.channelId,
        leaseId: r.lease.leaseId,
        tip: chain[maxTicks]!,
        hashFunction: 0,
        amountPerTick: per,
        baseAmount: r.total,
        maxTicks,
      }
      const commitment = await badCommitment(world, action.fault, fields, Uint8Array.from([0x12, 0x34]))
      await r.s.send(frame(RenterMessage.encode(renterMessage(RenterMessage.Kind.RENEW, { commitment }))))
      return final('lease.bad-renew', `RENEW with a commitment: ${action.fault}`)()
    }
    case 'unexpected': {
      // ACCEPT again (kind 1), KIND_UNSPECIFIED (0) or a kind number RenterMessage does not have.
      await r.s.send(frame(message(action.kind !== 0 && varintField(1, action.kind), bytesField(2, new Uint8Array(8)))))
      return final('lease.unexpected-frame', `kind ${action.kind} in a running lease`)()
    }
    case 'undecodable':
      await r.s.send(frame(action.bytes))
      return final(
        'lease.running-undecodable',
        `undecodable ${action.bytes.byteLength} B ${hex(action.bytes)} in a running lease`,
      )()
    case 'oversized': {
      const body = padTo(RenterMessage.encode(renterMessage(RenterMessage.Kind.TICK)), action.size)
      await r.s.send(action.lying ? lyingFrame(body.subarray(0, 20), action.size) : frame(body))
      return final(
        'lease.running-oversized',
        `a ${action.size} B${action.lying ? ' (claimed)' : ''} frame in a running lease`,
      )()
    }
    case 'silence':
      return final(
        'lease.no-tick',
        `no tick after ${r.ticks} (${r.ticks === 0 ? 'none paid' : 'paid ahead'})`,
        (r.ticks + 1) * 1_000 + GRACE_MS + SLACK_MS,
      )()
    case 'reset': {
      r.s.abort()
      const recorded = await recordedEnd(world, r.lease.leaseId)
      return { expect: ['lease.renter-gone'], input: `reset after ${r.ticks} ticks`, outcome: `recorded:${recorded}` }
    }
  }
}

// ------------------------------------------------------------------ cases

type LeaseSpec =
  | { kind: 'request'; request: RequestSpec }
  | { kind: 'request-frame'; bytes: Uint8Array; what: string; expect: ExpectationId; closeWrite: boolean }
  | { kind: 'accept'; accept: AcceptSpec; seconds: number }
  | { kind: 'run'; before: RunAction[]; final: RunAction }

const requestFrameArb: fc.Arbitrary<LeaseSpec> = fc.oneof(
  bytesArb(0, 500).map((bytes) => {
    const d = decodability(bytes, LEASE_REQUEST)
    return {
      kind: 'request-frame' as const,
      bytes: frame(bytes),
      what: `random ${bytes.byteLength} B ${hex(bytes)}`,
      expect: d === 'decodes' ? ('lease.bad-request' as const) : ('lease.request-undecodable' as const),
      closeWrite: false,
    }
  }),
  fc
    .oneof(fc.constantFrom(MAX_FRAME + 1, MAX_FRAME + 2, 65_536), fc.integer({ min: MAX_FRAME + 1, max: 100_000 }))
    .map((size) => ({
      kind: 'request-frame' as const,
      bytes: frame(
        padTo(
          LeaseRequest.encode({
            models: [],
            maxPricePerSecond: PRICE,
            seconds: 10,
            threads: 1,
            channelId: new Uint8Array(32),
          }),
          size,
        ),
      ),
      what: `request padded to ${size} B`,
      expect: 'lease.request-oversized' as const,
      closeWrite: false,
    })),
  fc
    .oneof(
      fc.constantFrom(BigInt(MAX_FRAME + 1), 1n << 32n, (1n << 64n) - 1n),
      fc.bigInt({ min: BigInt(MAX_FRAME + 1), max: 1n << 40n }),
    )
    .map((claimed) => ({
      kind: 'request-frame' as const,
      bytes: lyingFrame(new Uint8Array(8), claimed),
      what: `prefix claims ${claimed} B`,
      expect: 'lease.request-oversized' as const,
      closeWrite: true,
    })),
  fc.integer({ min: 1, max: 60 }).map((cut) => {
    const body = LeaseRequest.encode({
      models: [Uint8Array.from(MODELS.add.hash)],
      maxPricePerSecond: PRICE,
      seconds: 10,
      threads: 1,
      channelId: new Uint8Array(32).fill(1),
    })
    const full = frame(body)
    const at = Math.min(cut, full.byteLength - 1)
    return {
      kind: 'request-frame' as const,
      bytes: full.subarray(0, at),
      what: `request frame of ${full.byteLength} B cut at ${at}, then closed`,
      expect: 'lease.request-undecodable' as const,
      closeWrite: true,
    }
  }),
)

const specArb: fc.Arbitrary<LeaseSpec> = fc.oneof(
  { weight: 6, arbitrary: requestSpecArb.map((request) => ({ kind: 'request' as const, request })) },
  { weight: 3, arbitrary: requestFrameArb },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('accept' as const),
      accept: acceptSpecArb,
      seconds: fc.oneof(fc.constantFrom(1, 2, 60, 600), fc.integer({ min: 1, max: 900 })),
    }),
  },
  { weight: 8, arbitrary: runSpecArb.map((run) => ({ kind: 'run' as const, ...run })) },
)

/** Negotiate up to the quote on a fresh stream: the verified quote, or what happened instead. */
async function negotiate(
  world: FuzzWorld,
  channel: Hex,
  seconds: number,
): Promise<
  { s: LeaseStream; quote: NonNullable<Awaited<ReturnType<ReadmeRenter['verifyQuote']>>> } | { failed: string }
> {
  const s = await LeaseStream.open(world)
  if (s === undefined) return { failed: 'refused' }
  await s.send(frame(LeaseRequest.encode(world.renter.leaseRequest(channel, PRICE, { seconds }))))
  const { outcome, reply } = await s.reply()
  const quote = reply === undefined ? undefined : await world.renter.verifyQuote(reply)
  if (quote === undefined) {
    s.abort()
    return { failed: outcome }
  }
  return { s, quote }
}

async function runSpec(world: FuzzWorld, spec: LeaseSpec): Promise<CaseResult[]> {
  switch (spec.kind) {
    case 'request': {
      const { request, expect, input } = buildRequest(world, spec.request, world.leaseChannels[0]!)
      const s = await LeaseStream.open(world)
      if (s === undefined) return [{ expect: [expect], input, outcome: 'refused' }]
      try {
        await s.send(frame(LeaseRequest.encode(request)))
        const { outcome, reply } = await s.reply()
        if (outcome !== 'LeaseReply:OK' || reply === undefined) return [{ expect: [expect], input, outcome }]
        const problem = quoteProblem(world, request, await world.renter.verifyQuote(reply))
        return [{ expect: [expect], input, outcome: problem === '' ? outcome : `LeaseReply:OK-bad-quote-${problem}` }]
      } finally {
        s.abort()
      }
    }
    case 'request-frame': {
      const s = await LeaseStream.open(world)
      if (s === undefined) return [{ expect: [spec.expect], input: spec.what, outcome: 'refused' }]
      try {
        await s.send(spec.bytes)
        if (spec.closeWrite) await s.raw.closeWrite(s.deadline)
        const { outcome } = await s.reply()
        // Random bytes that decode are a request with every field at a random value: judged by the README's order.
        return [
          {
            expect:
              spec.expect === 'lease.bad-request'
                ? [
                    'lease.bad-request',
                    'lease.price-too-low',
                    'lease.model-not-found',
                    'lease.channel-invalid',
                    'lease.request-undecodable',
                  ]
                : [spec.expect],
            input: spec.what,
            outcome,
          },
        ]
      } finally {
        s.abort()
      }
    }
    case 'accept': {
      const channel = await leaseChannel(world, leaseCounter++)
      const n = await negotiate(world, channel, spec.seconds)
      if ('failed' in n)
        return [{ expect: ['lease.quote'], input: `request for ${spec.seconds} s to accept`, outcome: n.failed }]
      const { s, quote } = n
      try {
        const granted = Math.floor((quote.quote.maxSeconds * 1000) / quote.quote.tickIntervalMs)
        const chain = hashChain(granted)
        const base = await acceptedTotal(world, channel)
        const built = await buildAccept(world, spec.accept, {
          leaseId: quote.leaseId,
          channelId: channel,
          amountPerTick: quote.quote.amountPerTick,
          grantedTicks: granted,
          base,
          chain,
        })
        await s.send(built.bytes)
        if (built.expect === 'lease.accept-end') await s.raw.closeWrite(s.deadline)
        const { message, end } = await s.next(5_000)
        const outcome =
          message !== undefined
            ? `${message.kind}:${message.kind === 'ENDED' ? message.endReason : message.status}`
            : (end ?? 'hang')
        if (outcome === 'STARTED:OK') {
          lastLease.set(channel, quote.leaseId)
          // A started lease: pay nothing and leave; the provider ends it (judged elsewhere).
          world.renter.totals.set(channel, built.base)
        }
        return [{ expect: [built.expect], input: built.input, outcome }]
      } finally {
        s.abort()
      }
    }
    case 'run': {
      const channel = await leaseChannel(world, leaseCounter++)
      let lease: StartedLease
      try {
        world.renter.totals.set(channel, await acceptedTotal(world, channel))
        lease = await world.renter.startLease(channel, PRICE, { seconds: 60 })
      } catch (err) {
        return [
          {
            expect: ['lease.accept-valid'],
            input: 'start a lease to run',
            outcome: `not-started: ${(err as Error).message.slice(0, 80)}`,
          },
        ]
      }
      lastLease.set(channel, lease.leaseId)
      const r: Running = {
        s: new LeaseStream(lease.raw, Date.now() + CASE_MS + 5_000),
        lease,
        ticks: 0,
        total: lease.baseAmount,
        lastVoucher: lease.baseAmount,
      }
      const results: CaseResult[] = [
        { expect: ['lease.accept-valid'], input: 'ACCEPT a 60 s quote', outcome: 'STARTED:OK' },
      ]
      try {
        // Tick 1 at once (README: "tick 1 at once"), unless the case is about never paying.
        const before =
          spec.final.r === 'silence'
            ? spec.before.filter((a) => a.r !== 'tick')
            : [{ r: 'tick' } as RunAction, ...spec.before]
        for (const action of spec.final.r === 'silence' ? [] : before) {
          const result = await runAction(world, r, action)
          results.push(result)
          if (result.outcome !== VOID && !['TICK_ACK', 'VOUCHER_ACK', 'RENEWED'].includes(result.outcome))
            return results
        }
        const last = await runAction(world, r, spec.final)
        results.push({ ...last, input: `${last.input} (after ${before.map((a) => a.r).join(', ') || 'nothing'})` })
        return results
      } finally {
        r.s.abort()
      }
    }
  }
}

export function leaseCases(seed: number, count: number): FuzzCase[] {
  return sample(specArb, seed, count).map(
    (spec): FuzzCase => ({
      protocol: 'lease',
      timing: 'fast',
      label: `lease ${spec.kind}`,
      boundMs: CASE_MS + 10_000,
      run: (world) => runSpec(world, spec),
    }),
  )
}

/** Cases that wait out the request deadline (5 s) or the quote's expiry (10 s), from the slow node. */
export function leaseSlowCases(seed: number, count: number): FuzzCase[] {
  const kinds = ['late', 'silent', 'partial'] as const
  return Array.from({ length: count }, (_, i) => kinds[(i + seed) % kinds.length]!).map(
    (what): FuzzCase => ({
      protocol: 'lease',
      timing: 'slow',
      label: `lease ${what}`,
      boundMs: QUOTE_TTL_MS + 2 * SLACK_MS,
      async run(world) {
        // The late ACCEPT holds a negotiation of the slow node for 10 s: the silent ones come from the stranger, whose
        // own two negotiations are free (the README caps them at 2 per peer).
        const s = await LeaseStream.open(world, what === 'late' ? world.slow : world.stranger)
        const input =
          what === 'late'
            ? 'a valid ACCEPT 10.5 s after the quote'
            : what === 'silent'
              ? 'no request'
              : 'half a request, then nothing'
        const expect: ExpectationId = what === 'late' ? 'lease.accept-late' : 'lease.request-silent'
        if (s === undefined) return [{ expect: [expect], input, outcome: 'refused' }]
        try {
          if (what === 'silent' || what === 'partial') {
            if (what === 'partial') await s.send(Uint8Array.from([40, 10, 32]))
            const read = await s.raw.readFrame(Date.now() + REQUEST_MS + SLACK_MS)
            return [
              { expect: [expect], input, outcome: 'frame' in read ? 'answered' : 'end' in read ? read.end : 'hang' },
            ]
          }
          // The small channel: only ever asked for 1 s, and never started.
          const channel = world.smallChannel
          await s.send(frame(LeaseRequest.encode(world.renter.leaseRequest(channel, PRICE, { seconds: 1 }))))
          const { reply } = await s.reply()
          const quote = reply === undefined ? undefined : await world.renter.verifyQuote(reply)
          if (quote === undefined)
            return [{ expect: ['lease.quote'], input: 'a 1 s request on the small channel', outcome: 'no-quote' }]
          await new Promise((r) => setTimeout(r, QUOTE_TTL_MS + 500))
          const chain = hashChain(1)
          const commitment = await world.renter.commitment({
            chainId: BigInt(world.renter.chain.chainId),
            contract: world.renter.chain.contract,
            channelId: channel,
            leaseId: quote.leaseId,
            tip: chain[1]!,
            hashFunction: 0,
            amountPerTick: quote.quote.amountPerTick,
            baseAmount: world.renter.totals.get(channel) ?? 0n,
            maxTicks: 1,
          })
          await s.send(frame(RenterMessage.encode(renterMessage(RenterMessage.Kind.ACCEPT, { commitment }))))
          const { message, end } = await s.next(SLACK_MS)
          return [
            {
              expect: [expect],
              input,
              outcome: message !== undefined ? `${message.kind}:${message.status}` : (end ?? 'hang'),
            },
          ]
        } finally {
          s.abort()
        }
      },
    }),
  )
}

/** Two negotiations waiting on their quotes, then a third from the same peer. */
export function leaseExclusiveCases(): FuzzCase[] {
  return [
    {
      protocol: 'lease',
      timing: 'exclusive',
      label: '3rd concurrent negotiation',
      boundMs: CASE_MS,
      async run(world) {
        const held: LeaseStream[] = []
        try {
          for (let i = 0; i < 2; i++) {
            const n = await negotiate(world, world.leaseChannels[0]!, 30)
            if ('failed' in n)
              return [
                {
                  expect: ['lease.busy-negotiations'],
                  input: `negotiation ${i + 1} of 2 to hold`,
                  outcome: `could not hold: ${n.failed}`,
                },
              ]
            held.push(n.s)
          }
          const s = await LeaseStream.open(world)
          if (s === undefined)
            return [{ expect: ['lease.busy-negotiations'], input: '3rd negotiation', outcome: 'refused' }]
          try {
            await s.send(
              frame(LeaseRequest.encode(world.renter.leaseRequest(world.leaseChannels[0]!, PRICE, { seconds: 30 }))),
            )
            const { outcome } = await s.reply()
            return [{ expect: ['lease.busy-negotiations'], input: '3rd negotiation while 2 hold quotes', outcome }]
          } finally {
            s.abort()
          }
        } finally {
          for (const s of held) s.abort()
        }
      },
    },
  ]
}

/** One case of every kind, each rule broken once: every lease expectation is met on every run. */
export function leaseCoverage(): FuzzCase[] {
  const request = (faults: RequestFault[], over: Partial<RequestSpec> = {}): LeaseSpec => ({
    kind: 'request',
    request: { price: PRICE, seconds: 30, threads: 1, models: ['add'], faults, ...over },
  })
  const faults: readonly CommitmentFault[] = COMMITMENT_FAULTS
  const accept = (a: AcceptSpec, seconds = 30): LeaseSpec => ({ kind: 'accept', accept: a, seconds })
  const run = (
    final: RunAction,
    before: RunAction[] = [{ r: 'tick' }, { r: 'voucher' }, { r: 'renew' }, { r: 'tick' }],
  ): LeaseSpec => ({ kind: 'run', before, final })
  const specs: LeaseSpec[] = [
    request([{ f: 'none' }]),
    request([{ f: 'none' }], { price: (1n << 64n) - 1n, seconds: 2 ** 32 - 1, models: [] }),
    request([{ f: 'models-over-16', n: 17 }]),
    request([{ f: 'model-length', len: 31 }]),
    request([{ f: 'channel-length', len: 33 }]),
    request([{ f: 'seconds-0' }]),
    request([{ f: 'price-low', price: PRICE - 1n }]),
    request([{ f: 'model-unknown', hash: new Uint8Array(32).fill(0xee) }]),
    request([{ f: 'channel-unknown', id: new Uint8Array(32).fill(0xdd) }]),
    request([{ f: 'channel-foreign' }]),
    request([{ f: 'channel-in-lease' }]),
    request([{ f: 'insufficient', seconds: 2 }]),
    request([{ f: 'insufficient', seconds: 1 }]),
    request([{ f: 'threads', threads: 2 ** 32 - 1 }]),
    request([
      { f: 'price-low', price: 0n },
      { f: 'model-unknown', hash: new Uint8Array(32) },
    ]),
    {
      kind: 'request-frame',
      bytes: frame(Uint8Array.from([0xff, 0xff])),
      what: 'a request that does not decode',
      expect: 'lease.request-undecodable',
      closeWrite: false,
    },
    {
      kind: 'request-frame',
      bytes: lyingFrame(new Uint8Array(8), BigInt(MAX_FRAME + 1)),
      what: `prefix claims ${MAX_FRAME + 1} B`,
      expect: 'lease.request-oversized',
      closeWrite: true,
    },
    accept({ a: 'valid', ticks: 'granted', baseExtra: 0n, v01: false }),
    accept({ a: 'valid', ticks: 'one', baseExtra: 1000n, v01: true }),
    ...faults.map((fault) => accept({ a: 'bad', fault, garbage: Uint8Array.from([0xff, 0x01]) })),
    accept({ a: 'over-granted', extra: 1 }),
    accept({ a: 'wrong-kind', kind: 2 }),
    accept({ a: 'wrong-kind', kind: 7 }),
    accept({ a: 'end' }),
    accept({ a: 'undecodable', bytes: Uint8Array.from([0xff, 0xff]) }),
    accept({ a: 'oversized', size: MAX_FRAME + 1, lying: false }),
    run({ r: 'end', voucher: true }),
    run({ r: 'end', voucher: false }, []),
    ...(['preimage', 'skip', 'repeat', 'zero', 'lease', 'garbage', 'short', 'past-max'] as const).map((how) =>
      run({ r: 'bad-tick', how }),
    ),
    ...(['signer', 'over-deposit', 'not-increasing', 'channel', 'chain', 'contract', 'sig-64', 'garbage'] as const).map(
      (how) => run({ r: 'bad-voucher', how }),
    ),
    run({ r: 'bad-renew', fault: 'signer' }),
    run({ r: 'bad-renew', fault: 'base-below-total' }),
    run({ r: 'unexpected', kind: 1 }),
    run({ r: 'unexpected', kind: 0 }),
    run({ r: 'unexpected', kind: 7 }),
    run({ r: 'undecodable', bytes: Uint8Array.from([0xff, 0xff]) }),
    run({ r: 'oversized', size: MAX_FRAME + 1, lying: false }),
    run({ r: 'oversized', size: 65_536, lying: true }),
    run({ r: 'silence' }),
    run({ r: 'reset' }),
  ]
  return specs.map((spec) => ({
    protocol: 'lease',
    timing: 'fast',
    label: `lease coverage ${spec.kind}`,
    boundMs: CASE_MS + 10_000,
    run: (world) => runSpec(world, spec),
  }))
}
