import { concat, readVarint, varint } from './wire.js'

/*
 * Protobuf by hand, for the fuzz client: a writer that can put any value in any field (an enum number no codec would
 * write, a uint32 past 2^32, a varint past 2^64), and a reader that says whether bytes decode as a message of the
 * .proto in protocols/ by proto3's rules - not by one library's. proto3 enums are open (an unknown number decodes),
 * unknown fields are skipped, a known field must come with its own wire type, strings must be UTF-8.
 */

export const WIRE = { varint: 0, fixed64: 1, bytes: 2, groupStart: 3, groupEnd: 4, fixed32: 5 } as const

/** A field with a varint value (any size). */
export function varintField(field: number, value: number | bigint | boolean): Uint8Array {
  const v = typeof value === 'boolean' ? (value ? 1n : 0n) : BigInt(value)
  // Negative int32/int64/enum values are sent as their 64-bit two's complement, as protobuf does.
  return concat(varint((field << 3) | WIRE.varint), varint(v < 0n ? BigInt.asUintN(64, v) : v))
}

/** A length-delimited field (bytes, string or an embedded message). */
export function bytesField(field: number, value: Uint8Array | string): Uint8Array {
  const bytes = typeof value === 'string' ? new TextEncoder().encode(value) : value
  return concat(varint((field << 3) | WIRE.bytes), varint(bytes.byteLength), bytes)
}

/** A double (fixed64) field. */
export function doubleField(field: number, value: number): Uint8Array {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setFloat64(0, value, true)
  return concat(varint((field << 3) | WIRE.fixed64), b)
}

/** A message from its fields, in the order given. */
export function message(...fields: Array<Uint8Array | undefined | false>): Uint8Array {
  return concat(...fields.filter((f): f is Uint8Array => f instanceof Uint8Array))
}

/** What a field holds, as far as decoding goes. */
export type FieldType =
  | 'uint32'
  | 'uint64'
  | 'int32'
  | 'sint64'
  | 'bool'
  | 'enum'
  | 'double'
  | 'bytes'
  | 'string'
  /** A repeated number: proto3 parsers take it packed (one length-delimited field) or not. */
  | 'repeated-uint64'
  | { message: Schema }

export interface Schema {
  name: string
  fields: Record<number, FieldType>
}

export type Decodability = 'decodes' | 'does-not-decode' | 'ambiguous'

const wireTypeOf = (type: FieldType): number => {
  if (typeof type === 'object') return WIRE.bytes
  if (type === 'bytes' || type === 'string') return WIRE.bytes
  if (type === 'double') return WIRE.fixed64
  return WIRE.varint
}

const UTF8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Does `bytes` decode as a `schema` message under proto3? 'ambiguous' where decoders are allowed to differ (a string
 * that is not UTF-8, a varint whose tenth byte overflows 64 bits, a deprecated group).
 */
export function decodability(bytes: Uint8Array, schema: Schema, depth = 0): Decodability {
  let ambiguous = false
  let at = 0
  if (depth > 32) return 'ambiguous'
  while (at < bytes.byteLength) {
    const tag = readVarint(bytes, at)
    if (tag === undefined) return 'does-not-decode'
    at += tag.length
    const field = Number(tag.value >> 3n)
    const wire = Number(tag.value & 7n)
    // Field number 0 is not a field: protobuf's reference decoders refuse it, others skip it as unknown.
    if (field === 0) ambiguous = true
    // Field numbers stop at 2^29 - 1; decoders read a longer tag as 32 bits, or refuse it.
    if (tag.value > 0xffffffffn) ambiguous = true
    const type = schema.fields[field]
    if (type === 'repeated-uint64' && wire === WIRE.bytes) {
      // Packed, where the .proto says packed = false: parsers must accept it, not every one does.
      ambiguous = true
    } else if (type !== undefined && wireTypeOf(type) !== wire && wire <= WIRE.fixed32) {
      // A known field with another (valid) wire type: some decoders refuse it, some skip it, some read it anyway.
      ambiguous = true
    }
    switch (wire) {
      case WIRE.varint: {
        const v = readVarint(bytes, at)
        if (v === undefined) return 'does-not-decode'
        if (v.length === 10 && (bytes[at + 9] ?? 0) > 1) ambiguous = true
        at += v.length
        break
      }
      case WIRE.fixed64:
        if (at + 8 > bytes.byteLength) return 'does-not-decode'
        at += 8
        break
      case WIRE.fixed32:
        if (at + 4 > bytes.byteLength) return 'does-not-decode'
        at += 4
        break
      case WIRE.bytes: {
        const length = readVarint(bytes, at)
        if (length === undefined) return 'does-not-decode'
        at += length.length
        if (length.value > BigInt(bytes.byteLength - at)) return 'does-not-decode'
        const body = bytes.subarray(at, at + Number(length.value))
        at += Number(length.value)
        if (type === 'string') {
          try {
            UTF8.decode(body)
          } catch {
            ambiguous = true
          }
        } else if (typeof type === 'object') {
          const inner = decodability(body, type.message, depth + 1)
          if (inner === 'does-not-decode') return inner
          if (inner === 'ambiguous') ambiguous = true
        }
        break
      }
      case WIRE.groupStart:
      case WIRE.groupEnd:
        // Groups are deprecated; proto3 decoders skip or refuse them.
        return 'ambiguous'
      default:
        return 'does-not-decode'
    }
  }
  return ambiguous ? 'ambiguous' : 'decodes'
}

// The messages the fuzz client sends, transcribed from protocols/*.proto (field number -> type).

export const OFFER_REQUEST: Schema = { name: 'OfferRequest', fields: {} }

export const LEASE_REQUEST: Schema = {
  name: 'LeaseRequest',
  fields: { 1: 'bytes', 2: 'uint64', 3: 'uint32', 4: 'uint32', 5: 'bytes' },
}

export const RENTER_MESSAGE: Schema = {
  name: 'RenterMessage',
  fields: { 1: 'enum', 2: 'bytes', 3: 'bytes', 4: 'bytes', 5: 'enum' },
}

export const TENSOR: Schema = {
  name: 'Tensor',
  fields: { 1: 'string', 2: 'enum', 3: 'repeated-uint64', 4: 'bytes', 5: 'bytes' },
}

export const INFER_REQUEST: Schema = {
  name: 'InferRequest',
  fields: { 1: 'bytes', 2: { message: TENSOR }, 3: 'string', 4: 'uint32', 5: 'uint32', 6: 'bool' },
}

export const MODEL_REQUEST: Schema = {
  name: 'ModelRequest',
  fields: { 1: 'enum', 2: 'bytes', 3: 'uint64', 4: 'string' },
}

export const MODEL_CHUNK: Schema = { name: 'ModelChunk', fields: { 1: 'bytes' } }

const KAD_PEER_INFO: Schema = { name: 'PeerInfo', fields: { 1: 'bytes', 2: 'bytes', 3: 'enum' } }

export const KAD_MESSAGE: Schema = {
  name: 'Message',
  fields: {
    1: 'enum',
    10: 'int32',
    2: 'bytes',
    3: 'bytes',
    8: { message: KAD_PEER_INFO },
    9: { message: KAD_PEER_INFO },
  },
}

/** The fields of a decodable message, as raw values (last one wins for scalars, all kept for repeated). */
export interface RawField {
  field: number
  wire: number
  value: bigint | Uint8Array
}

/** Split a message that decodes into its fields (undefined if it does not). */
export function rawFields(bytes: Uint8Array): RawField[] | undefined {
  const out: RawField[] = []
  let at = 0
  while (at < bytes.byteLength) {
    const tag = readVarint(bytes, at)
    if (tag === undefined) return undefined
    at += tag.length
    const field = Number(tag.value >> 3n)
    const wire = Number(tag.value & 7n)
    if (wire === WIRE.varint) {
      const v = readVarint(bytes, at)
      if (v === undefined) return undefined
      at += v.length
      out.push({ field, wire, value: v.value })
    } else if (wire === WIRE.bytes) {
      const length = readVarint(bytes, at)
      if (length === undefined) return undefined
      at += length.length
      const end = at + Number(length.value)
      if (end > bytes.byteLength) return undefined
      out.push({ field, wire, value: bytes.subarray(at, end) })
      at = end
    } else if (wire === WIRE.fixed64 || wire === WIRE.fixed32) {
      const size = wire === WIRE.fixed64 ? 8 : 4
      if (at + size > bytes.byteLength) return undefined
      out.push({ field, wire, value: bytes.subarray(at, at + size) })
      at += size
    } else {
      return undefined
    }
  }
  return out
}
