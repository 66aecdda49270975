import { createHash, randomBytes } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import * as fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { type FuzzCase, hex, SLACK_MS } from '../case.js'
import { bytesArb, type Exchanged, exchange, sample } from '../exchange.js'
import type { ExpectationId } from '../expectations.js'
import { Message } from '../pb/kad-dht.js'
import { bytesField, decodability, KAD_MESSAGE, message, varintField } from '../proto.js'
import { KAD_PROTOCOL } from '../readme-renter.js'
import { endlessVarint, frame, lyingFrame, padTo } from '../wire.js'
import { type FuzzWorld, MODELS } from '../world.js'

/** README: "4 MiB frames (libp2p default) | 10 s per message". */
const MAX_FRAME = 4 * 1024 * 1024
const DEADLINE_MS = 10_000

/** kad-dht's MessageType numbers (stock dht.proto). */
const TYPES = { PUT_VALUE: 0, GET_VALUE: 1, ADD_PROVIDER: 2, GET_PROVIDERS: 3, FIND_NODE: 4, PING: 5 } as const

/** README "Finding providers": CID = CIDv1(raw, sha2-256(key string)); kad carries the CID's multihash. */
async function keyMultihash(key: string): Promise<Uint8Array> {
  return CID.createV1(0x55, await sha256.digest(new TextEncoder().encode(key))).multihash.bytes
}

const multihashArb = bytesArb(32, 32).map((d) => Uint8Array.from([0x12, 0x20, ...d]))

const keyArb: fc.Arbitrary<Uint8Array | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.constant(new Uint8Array()),
  bytesArb(1, 64),
  multihashArb,
  fc.integer({ min: 1, max: 65_536 }).map((n) => Uint8Array.from(randomBytesSeeded(n))),
)

/** Deterministic filler bytes (fast-check does the randomness; this only has to be long). */
function randomBytesSeeded(n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = (i * 131 + 7) & 0xff
  return out
}

const peerInfoArb = fc
  .record({
    id: fc.oneof(fc.constant(undefined), bytesArb(0, 64), multihashArb),
    addrs: fc.array(fc.oneof(bytesArb(0, 40), fc.constant(multiaddr('/ip4/127.0.0.1/tcp/1').bytes)), { maxLength: 3 }),
    connection: fc.option(fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom(99, -1, 2 ** 31 - 1)), {
      nil: undefined,
    }),
  })
  .map((p) =>
    message(
      p.id !== undefined && bytesField(1, p.id),
      ...p.addrs.map((a) => bytesField(2, a)),
      p.connection !== undefined && varintField(3, p.connection),
    ),
  )

const hostileArb = fc
  .record({
    type: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0, max: 5 }) },
      { weight: 1, arbitrary: fc.constantFrom(6, 7, 100, -1, 2 ** 31 - 1, -(2 ** 31)) },
    ),
    key: keyArb,
    record: fc.option(
      fc.oneof(
        bytesArb(0, 300),
        fc.tuple(bytesArb(0, 40), bytesArb(0, 200)).map(([k, v]) => message(bytesField(1, k), bytesField(2, v))),
      ),
      {
        nil: undefined,
      },
    ),
    clusterLevel: fc.option(fc.constantFrom(0, 1, -1, 2 ** 31 - 1, -(2 ** 31)), { nil: undefined }),
    closer: fc.array(peerInfoArb, { maxLength: 4 }),
    providers: fc.array(peerInfoArb, { maxLength: 4 }),
  })
  .map((m) => ({
    type: m.type,
    bytes: message(
      varintField(1, m.type),
      m.clusterLevel !== undefined && varintField(10, m.clusterLevel),
      m.key !== undefined && bytesField(2, m.key),
      m.record !== undefined && bytesField(3, m.record),
      ...m.closer.map((p) => bytesField(8, p)),
      ...m.providers.map((p) => bytesField(9, p)),
    ),
  }))

/** protocols/README.md, DHT limits: "provider records: 512 per providing peer". */
const PROVIDER_RECORDS_PER_PEER = 512
/** Records the daemon has stored for `world.stranger` in this run (a fresh key each, so none is a refresh). */
let strangerRecords = 0

type KadSpec =
  | { kind: 'find-node-self' }
  | { kind: 'get-providers'; which: 'runtime' | 'model' }
  | { kind: 'add-provider' }
  | { kind: 'hostile'; type: number; bytes: Uint8Array }
  | { kind: 'random'; bytes: Uint8Array }
  | { kind: 'oversized'; size: number }
  | { kind: 'lying'; claimed: bigint }
  | { kind: 'truncated'; bytes: Uint8Array; cut: number }
  | { kind: 'endless-prefix'; bytes: number }
  | { kind: 'short-prefix'; bytes: Uint8Array; claimed: number }

const specArb: fc.Arbitrary<KadSpec> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ kind: 'find-node-self' as const }) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('runtime' as const, 'model' as const)
      .map((which) => ({ kind: 'get-providers' as const, which })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'add-provider' as const }) },
  { weight: 8, arbitrary: hostileArb.map((h) => ({ kind: 'hostile' as const, ...h })) },
  { weight: 3, arbitrary: bytesArb(0, 512).map((bytes) => ({ kind: 'random' as const, bytes })) },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        fc.constantFrom(MAX_FRAME + 1, MAX_FRAME + 2),
        fc.integer({ min: MAX_FRAME + 1, max: MAX_FRAME + 1024 * 1024 }),
      )
      .map((size) => ({ kind: 'oversized' as const, size })),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        fc.constantFrom(BigInt(MAX_FRAME + 1), 1n << 32n, 1n << 53n, (1n << 64n) - 1n),
        fc.bigInt({ min: BigInt(MAX_FRAME + 1), max: 1n << 40n }),
      )
      .map((claimed) => ({ kind: 'lying' as const, claimed })),
  },
  {
    weight: 2,
    arbitrary: hostileArb
      .filter((h) => h.bytes.byteLength >= 2)
      .chain((h) =>
        fc.record({
          kind: fc.constant('truncated' as const),
          bytes: fc.constant(h.bytes),
          cut: fc.integer({ min: 1, max: frame(h.bytes).byteLength - 1 }),
        }),
      ),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 11, max: 40 }).map((bytes) => ({ kind: 'endless-prefix' as const, bytes })),
  },
  {
    // A prefix that claims fewer bytes than follow: a cut message, then the rest read as the next frame.
    weight: 1,
    arbitrary: hostileArb
      .filter((h) => h.bytes.byteLength >= 2)
      .chain((h) =>
        fc.record({
          kind: fc.constant('short-prefix' as const),
          bytes: fc.constant(h.bytes),
          claimed: fc.integer({ min: 1, max: h.bytes.byteLength - 1 }),
        }),
      ),
  },
)

function reply(result: Exchanged): { outcome: string; message?: Message } {
  if (result.end === 'refused') return { outcome: 'refused' }
  const first = result.frames[0]
  if (first === undefined) return { outcome: result.end }
  try {
    return { outcome: 'reply', message: Message.decode(first) }
  } catch {
    return { outcome: 'undecodable-reply' }
  }
}

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array): boolean =>
  a != null && Buffer.from(a).equals(Buffer.from(b))

async function runSpec(
  world: FuzzWorld,
  spec: KadSpec,
): Promise<{ expect: ExpectationId[]; input: string; outcome: string; ms: number }> {
  const sendFrom = (node: FuzzWorld['node'], bytes: Uint8Array, closeWrite = true, maxFrames = 1) =>
    exchange(node, world.renter.addrs, KAD_PROTOCOL, bytes, {
      closeWrite,
      deadlineMs: DEADLINE_MS + SLACK_MS,
      maxFrames,
    })
  // The hostile cases come from the fuzz client, which the provider's per-peer kad rate limit soon resets (as the
  // README says it does); an honest question comes from a peer of its own (the stranger, which sends no kad flood).
  const send = (bytes: Uint8Array, closeWrite = true, maxFrames = 1) =>
    sendFrom(world.node, bytes, closeWrite, maxFrames)
  const ask = (bytes: Uint8Array) => sendFrom(world.stranger, bytes)
  const provider = world.provider.toMultihash().bytes
  switch (spec.kind) {
    case 'find-node-self': {
      const result = await ask(
        frame(Message.encode({ type: 'FIND_NODE' as Message['type'], key: provider, closer: [], providers: [] })),
      )
      const r = reply(result)
      const self = r.message?.closer.find((p) => sameBytes(p.id, provider))
      const loopback = self?.multiaddrs.some((a) => multiaddr(a).toString().startsWith('/ip4/127.0.0.1/')) === true
      const outcome =
        r.message == null
          ? r.outcome
          : loopback
            ? 'self-listed'
            : self != null
              ? 'self-without-loopback'
              : 'self-missing'
      return { expect: ['kad.find-node-self'], input: 'FIND_NODE for the provider itself', outcome, ms: result.ms }
    }
    case 'get-providers': {
      const key =
        spec.which === 'runtime'
          ? await keyMultihash('/parkbench/runtime/onnx/cpu/v1')
          : await keyMultihash(`/parkbench/model/sha256/${MODELS.add.sha256}/v1`)
      const result = await ask(
        frame(
          Message.encode({
            type: 'GET_PROVIDERS' as Message['type'],
            key: Uint8Array.from(key),
            closer: [],
            providers: [],
          }),
        ),
      )
      const r = reply(result)
      const listed = r.message?.providers.some((p) => sameBytes(p.id, provider) && p.multiaddrs.length > 0) === true
      const outcome = r.message == null ? r.outcome : listed ? 'provider-listed' : 'provider-missing'
      return { expect: ['kad.get-providers'], input: `GET_PROVIDERS for the ${spec.which} key`, outcome, ms: result.ms }
    }
    case 'add-provider': {
      const key = Uint8Array.from([0x12, 0x20, ...createHash('sha256').update(randomBytes(32)).digest()])
      const self = world.stranger.peerId.toMultihash().bytes
      const addrs = world.stranger.getMultiaddrs().map((a) => a.decapsulateCode(421).bytes)
      const add = Message.encode({
        type: 'ADD_PROVIDER' as Message['type'],
        key,
        closer: [],
        providers: [{ id: self, multiaddrs: addrs }],
      })
      const get = Message.encode({ type: 'GET_PROVIDERS' as Message['type'], key, closer: [], providers: [] })
      // Stock kad answers ADD_PROVIDER with nothing; the GET_PROVIDERS after it on the same stream is answered.
      const result = await ask(new Uint8Array([...frame(add), ...frame(get)]))
      const r = reply(result)
      const stored = r.message?.providers.some((p) => sameBytes(p.id, self)) === true
      const outcome = r.message == null ? r.outcome : stored ? 'stored' : 'not-stored'
      // Past the README's cap of records per providing peer (they are kept an hour: a long run reaches it).
      const overCap = strangerRecords >= PROVIDER_RECORDS_PER_PEER
      if (stored) strangerRecords++
      return {
        expect: [overCap ? 'kad.add-provider-over-cap' : 'kad.add-provider'],
        input: 'ADD_PROVIDER for a fresh key, then GET_PROVIDERS',
        outcome,
        ms: result.ms,
      }
    }
    case 'hostile': {
      const result = await send(frame(spec.bytes))
      return {
        expect: ['kad.hostile-fields'],
        input: `type ${spec.type}: ${hex(spec.bytes, 40)}`,
        outcome: reply(result).outcome,
        ms: result.ms,
      }
    }
    case 'random': {
      const d = decodability(spec.bytes, KAD_MESSAGE)
      const expect: ExpectationId[] =
        d === 'decodes'
          ? ['kad.hostile-fields']
          : d === 'does-not-decode'
            ? ['kad.undecodable']
            : ['kad.undecodable', 'kad.hostile-fields']
      const result = await send(frame(spec.bytes))
      return {
        expect,
        input: `random ${spec.bytes.byteLength} B ${hex(spec.bytes)}`,
        outcome: reply(result).outcome,
        ms: result.ms,
      }
    }
    case 'oversized': {
      const body = padTo(message(varintField(1, TYPES.PING)), spec.size)
      const result = await send(frame(body), false)
      return {
        expect: ['kad.oversized'],
        input: `a PING padded to ${spec.size} B`,
        outcome: reply(result).outcome,
        ms: result.ms,
      }
    }
    case 'lying': {
      const result = await send(lyingFrame(message(varintField(1, TYPES.PING)), spec.claimed))
      return {
        expect: ['kad.oversized', 'kad.truncated'],
        input: `prefix claims ${spec.claimed} B, 2 follow`,
        outcome: reply(result).outcome,
        ms: result.ms,
      }
    }
    case 'truncated': {
      const bytes = frame(spec.bytes).subarray(0, spec.cut)
      const result = await send(bytes)
      return {
        expect: ['kad.truncated'],
        input: `frame of ${frame(spec.bytes).byteLength} B cut at ${spec.cut}`,
        outcome: reply(result).outcome,
        ms: result.ms,
      }
    }
    case 'short-prefix': {
      const first = spec.bytes.subarray(0, spec.claimed)
      const d = decodability(first, KAD_MESSAGE)
      const expect: ExpectationId[] =
        d === 'decodes'
          ? ['kad.hostile-fields']
          : d === 'does-not-decode'
            ? ['kad.undecodable']
            : ['kad.undecodable', 'kad.hostile-fields']
      const result = await send(lyingFrame(spec.bytes, spec.claimed))
      return {
        expect,
        input: `prefix claims ${spec.claimed} of the ${spec.bytes.byteLength} B that follow`,
        outcome: reply(result).outcome,
        ms: result.ms,
      }
    }
    case 'endless-prefix': {
      const result = await send(endlessVarint(spec.bytes))
      return {
        expect: ['kad.undecodable', 'kad.oversized'],
        input: `${spec.bytes} bytes of 0xff as a prefix`,
        outcome: reply(result).outcome,
        ms: result.ms,
      }
    }
  }
}

export function kadCases(seed: number, count: number): FuzzCase[] {
  return sample(specArb, seed, count).map(
    (spec): FuzzCase => ({
      protocol: 'kad',
      timing: 'fast',
      label: `kad ${spec.kind}`,
      boundMs: DEADLINE_MS + SLACK_MS,
      run: async (world) => [await runSpec(world, spec)],
    }),
  )
}

/** A kad stream that says nothing (or half a message) for longer than the 10 s per message. */
export function kadSlowCases(seed: number, count: number): FuzzCase[] {
  return sample(fc.oneof(fc.constant(new Uint8Array()), fc.constant(Uint8Array.from([10, 8]))), seed, count).map(
    (bytes): FuzzCase => {
      const input = bytes.byteLength === 0 ? 'nothing for 10 s' : 'half a message, then nothing'
      return {
        protocol: 'kad',
        timing: 'slow',
        label: input,
        boundMs: DEADLINE_MS + SLACK_MS,
        async run(world) {
          const result = await exchange(world.slow, world.renter.addrs, KAD_PROTOCOL, bytes, {
            closeWrite: false,
            deadlineMs: DEADLINE_MS + SLACK_MS,
            maxFrames: 1,
          })
          return [{ expect: ['kad.silent'], input, outcome: reply(result).outcome, ms: result.ms }]
        },
      }
    },
  )
}
