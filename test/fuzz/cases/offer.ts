import * as fc from 'fast-check'
import { OfferResponse } from '../../../src/market/pb/market.js'
import { type CaseResult, type FuzzCase, hex, SLACK_MS } from '../case.js'
import { bytesArb, type Exchanged, exchange, sample } from '../exchange.js'
import type { ExpectationId } from '../expectations.js'
import { decodability, OFFER_REQUEST } from '../proto.js'
import { OFFER_PROTOCOL, verifyOffer } from '../readme-renter.js'
import { concat, endlessVarint, frame, lyingFrame, padTo, RawStream, varint } from '../wire.js'
import type { FuzzWorld } from '../world.js'

/** README: "A request over 1 KiB, one that does not decode, or one that does not arrive within 5 s resets the stream." */
const MAX_REQUEST = 1024
const DEADLINE_MS = 5_000

/** Well-formed protobuf fields with numbers OfferRequest does not have (it has none): all of them decode. */
export const unknownFieldsArb = (maxBytes: number): fc.Arbitrary<Uint8Array> =>
  fc
    .array(
      fc.oneof(
        fc
          .tuple(fc.integer({ min: 1, max: 536_870_911 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }))
          .map(([n, v]) => concat(varint(BigInt(n) << 3n), varint(v))),
        fc
          .tuple(fc.integer({ min: 1, max: 536_870_911 }), bytesArb(0, 64))
          .map(([n, b]) => concat(varint((BigInt(n) << 3n) | 2n), varint(b.byteLength), b)),
        fc
          .tuple(fc.integer({ min: 1, max: 536_870_911 }), bytesArb(4, 4))
          .map(([n, b]) => concat(varint((BigInt(n) << 3n) | 5n), b)),
        fc
          .tuple(fc.integer({ min: 1, max: 536_870_911 }), bytesArb(8, 8))
          .map(([n, b]) => concat(varint((BigInt(n) << 3n) | 1n), b)),
      ),
      { maxLength: 12 },
    )
    .map((fields) => concat(...fields))
    .filter((b) => b.byteLength <= maxBytes)

type OfferSpec =
  | { kind: 'valid'; body: Uint8Array; closeWrite: boolean }
  | { kind: 'random'; body: Uint8Array; closeWrite: boolean }
  | { kind: 'sized'; size: number; closeWrite: boolean }
  | { kind: 'lying'; body: Uint8Array; claimed: bigint }
  | { kind: 'truncated'; body: Uint8Array; cut: number }
  | { kind: 'endless-prefix'; bytes: number }
  | { kind: 'short-prefix'; body: Uint8Array; claimed: number }

const specArb: fc.Arbitrary<OfferSpec> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('valid' as const),
      body: unknownFieldsArb(MAX_REQUEST),
      closeWrite: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('random' as const),
      body: bytesArb(0, MAX_REQUEST),
      closeWrite: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('sized' as const),
      size: fc.oneof(
        fc.constantFrom(1022, 1023, 1024, 1025, 1026, 2048, 4096, 65_536, 1 << 20),
        fc.integer({ min: 4, max: 70_000 }),
      ),
      closeWrite: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('lying' as const),
      body: unknownFieldsArb(200),
      claimed: fc.oneof(
        fc.constantFrom(1025n, 4097n, 1n << 31n, 1n << 32n, 1n << 53n, (1n << 63n) - 1n, (1n << 64n) - 1n),
        fc.bigInt({ min: 1025n, max: 1n << 40n }),
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: unknownFieldsArb(MAX_REQUEST)
      .filter((b) => b.byteLength >= 2)
      .chain((body) =>
        fc.record({
          kind: fc.constant('truncated' as const),
          body: fc.constant(body),
          cut: fc.integer({ min: 1, max: frame(body).byteLength - 1 }),
        }),
      ),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('endless-prefix' as const), bytes: fc.integer({ min: 11, max: 64 }) }),
  },
  {
    // A prefix that claims fewer bytes than follow: the frame is the first `claimed` bytes, the rest comes after it.
    weight: 1,
    arbitrary: unknownFieldsArb(MAX_REQUEST)
      .filter((b) => b.byteLength >= 2)
      .chain((body) =>
        fc.record({
          kind: fc.constant('short-prefix' as const),
          body: fc.constant(body),
          claimed: fc.integer({ min: 0, max: body.byteLength - 1 }),
        }),
      ),
  },
)

/** What the provider's answer was, as an outcome. */
async function outcome(result: Exchanged, world: FuzzWorld): Promise<string> {
  if (result.end === 'refused') return 'refused'
  const first = result.frames[0]
  if (first === undefined) return result.end
  try {
    const response = OfferResponse.decode(first)
    if (response.status !== OfferResponse.Status.OK) return String(response.status)
    if (response.offer == null) return 'OK-bad-no-offer'
    return (await verifyOffer(response.offer, world.provider)) == null ? 'OK-bad-offer' : 'OK'
  } catch {
    return 'undecodable-reply'
  }
}

function judge(spec: OfferSpec): { bytes: Uint8Array; closeWrite: boolean; expect: ExpectationId[]; input: string } {
  switch (spec.kind) {
    case 'valid':
    case 'random': {
      const d = decodability(spec.body, OFFER_REQUEST)
      const expect: ExpectationId[] =
        d === 'decodes'
          ? ['offer.valid']
          : d === 'does-not-decode'
            ? ['offer.undecodable']
            : ['offer.valid', 'offer.undecodable']
      return {
        bytes: frame(spec.body),
        closeWrite: spec.closeWrite,
        expect,
        input: `${spec.kind} ${spec.body.byteLength} B ${hex(spec.body)}`,
      }
    }
    case 'sized': {
      const body = padTo(new Uint8Array(), spec.size)
      return {
        bytes: frame(body),
        closeWrite: spec.closeWrite,
        expect: [spec.size <= MAX_REQUEST ? 'offer.valid' : 'offer.oversized'],
        input: `request padded to ${spec.size} B`,
      }
    }
    case 'lying':
      return {
        bytes: lyingFrame(spec.body, spec.claimed),
        closeWrite: true,
        expect: ['offer.oversized', 'offer.truncated'],
        input: `prefix claims ${spec.claimed} B, ${spec.body.byteLength} B follow`,
      }
    case 'truncated':
      return {
        bytes: frame(spec.body).subarray(0, spec.cut),
        closeWrite: true,
        expect: ['offer.truncated'],
        input: `frame of ${frame(spec.body).byteLength} B cut at ${spec.cut}`,
      }
    case 'endless-prefix':
      return {
        bytes: endlessVarint(spec.bytes),
        closeWrite: true,
        expect: ['offer.undecodable', 'offer.oversized'],
        input: `${spec.bytes} bytes of 0xff as a length prefix`,
      }
    case 'short-prefix': {
      // One request per stream: what follows the first frame is never read, so the first frame alone decides.
      const first = spec.body.subarray(0, spec.claimed)
      const d = decodability(first, OFFER_REQUEST)
      const expect: ExpectationId[] =
        d === 'decodes'
          ? ['offer.valid']
          : d === 'does-not-decode'
            ? ['offer.undecodable']
            : ['offer.valid', 'offer.undecodable']
      return {
        bytes: lyingFrame(spec.body, spec.claimed),
        closeWrite: true,
        expect,
        input: `prefix claims ${spec.claimed} of the ${spec.body.byteLength} B that follow`,
      }
    }
  }
}

export function offerCases(seed: number, count: number): FuzzCase[] {
  return sample(specArb, seed, count).map((spec): FuzzCase => {
    const { bytes, closeWrite, expect, input } = judge(spec)
    return {
      protocol: 'offer',
      timing: 'fast',
      label: input,
      boundMs: DEADLINE_MS + SLACK_MS,
      async run(world) {
        const result = await exchange(world.node, world.renter.addrs, OFFER_PROTOCOL, bytes, {
          closeWrite,
          deadlineMs: DEADLINE_MS + SLACK_MS,
          maxFrames: 1,
        })
        return [{ expect, input, outcome: await outcome(result, world), ms: result.ms }]
      },
    }
  })
}

/** Requests that never arrive whole: the provider must reset them by its 5 s deadline. */
export function offerSlowCases(seed: number, count: number): FuzzCase[] {
  const arb = fc.oneof(
    fc.constant(new Uint8Array()),
    bytesArb(1, 1).map((b) => Uint8Array.from([(b[0]! % 100) + 2])),
    unknownFieldsArb(64).map((b) => frame(padTo(b, b.byteLength + 8)).subarray(0, 3)),
  )
  return sample(arb, seed, count).map((bytes): FuzzCase => {
    const input = bytes.byteLength === 0 ? 'nothing, then silence' : `${hex(bytes)} then silence`
    return {
      protocol: 'offer',
      timing: 'slow',
      label: input,
      boundMs: DEADLINE_MS + SLACK_MS,
      async run(world) {
        const result = await exchange(world.slow, world.renter.addrs, OFFER_PROTOCOL, bytes, {
          closeWrite: false,
          deadlineMs: DEADLINE_MS + SLACK_MS,
          maxFrames: 1,
        })
        return [{ expect: ['offer.silent'], input, outcome: await outcome(result, world), ms: result.ms }]
      },
    }
  })
}

/** Eight offer streams held open on one connection, then a ninth. */
export function offerExclusiveCases(): FuzzCase[] {
  return [
    {
      protocol: 'offer',
      timing: 'exclusive',
      label: '9th concurrent offer stream',
      boundMs: DEADLINE_MS + SLACK_MS,
      async run(world) {
        const deadline = Date.now() + DEADLINE_MS
        const held: RawStream[] = []
        try {
          for (let i = 0; i < 8; i++) {
            const raw = new RawStream(
              await world.slow.dialProtocol(world.renter.addrs, OFFER_PROTOCOL, { signal: AbortSignal.timeout(2_000) }),
            )
            // One byte of a prefix: the stream is negotiated and the handler is waiting for the rest.
            await raw.send(Uint8Array.from([5]), deadline)
            held.push(raw)
          }
          await new Promise((r) => setTimeout(r, 100))
          const result = await exchange(world.slow, world.renter.addrs, OFFER_PROTOCOL, frame(new Uint8Array()), {
            closeWrite: true,
            deadlineMs: 3_000,
            maxFrames: 1,
          })
          const observed = result.end === 'refused' ? 'reset' : await outcome(result, world)
          return [{ expect: ['offer.streams'], input: '9th stream while 8 wait for their request', outcome: observed }]
        } finally {
          for (const raw of held) raw.abort()
        }
      },
    },
  ]
}

export type { CaseResult }
