import { decodeMessage, encodeMessage, enumeration, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export enum HashFunction {
  KECCAK256 = 'KECCAK256',
  SHA256 = 'SHA256'
}

enum __HashFunctionValues {
  KECCAK256 = 0,
  SHA256 = 1
}

export namespace HashFunction {
  export const codec = (): Codec<HashFunction> => {
    return enumeration<HashFunction>(__HashFunctionValues)
  }
}

export interface Voucher {
  chainId: bigint
  contract: Uint8Array<ArrayBuffer>
  channelId: Uint8Array<ArrayBuffer>
  total: Uint8Array<ArrayBuffer>
  signature: Uint8Array<ArrayBuffer>
}

export namespace Voucher {
  let _codec: Codec<Voucher>

  export const codec = (): Codec<Voucher> => {
    if (_codec == null) {
      _codec = message<Voucher>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.chainId != null && obj.chainId !== 0n)) {
          w.uint32(8)
          w.uint64(obj.chainId)
        }

        if ((obj.contract != null && obj.contract.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.contract)
        }

        if ((obj.channelId != null && obj.channelId.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.channelId)
        }

        if ((obj.total != null && obj.total.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.total)
        }

        if ((obj.signature != null && obj.signature.byteLength > 0)) {
          w.uint32(42)
          w.bytes(obj.signature)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          chainId: 0n,
          contract: uint8ArrayAlloc(0),
          channelId: uint8ArrayAlloc(0),
          total: uint8ArrayAlloc(0),
          signature: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.chainId = reader.uint64()
              break
            }
            case 2: {
              obj.contract = reader.bytes()
              break
            }
            case 3: {
              obj.channelId = reader.bytes()
              break
            }
            case 4: {
              obj.total = reader.bytes()
              break
            }
            case 5: {
              obj.signature = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.chainId`,
                value: reader.uint64()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.contract`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.channelId`,
                value: reader.bytes()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.total`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.signature`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface VoucherChainIdFieldEvent {
    field: '$.chainId'
    value: bigint
  }

  export interface VoucherContractFieldEvent {
    field: '$.contract'
    value: Uint8Array<ArrayBuffer>
  }

  export interface VoucherChannelIdFieldEvent {
    field: '$.channelId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface VoucherTotalFieldEvent {
    field: '$.total'
    value: Uint8Array<ArrayBuffer>
  }

  export interface VoucherSignatureFieldEvent {
    field: '$.signature'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<Voucher>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Voucher.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Voucher>): Voucher {
    return decodeMessage(buf, Voucher.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Voucher>): Generator<VoucherChainIdFieldEvent | VoucherContractFieldEvent | VoucherChannelIdFieldEvent | VoucherTotalFieldEvent | VoucherSignatureFieldEvent> {
    return streamMessage(buf, Voucher.codec(), opts)
  }
}

export interface SignedTickCommitment {
  chainId: bigint
  contract: Uint8Array<ArrayBuffer>
  channelId: Uint8Array<ArrayBuffer>
  leaseId: Uint8Array<ArrayBuffer>
  tip: Uint8Array<ArrayBuffer>
  hashFunction: HashFunction
  amountPerTick: Uint8Array<ArrayBuffer>
  baseAmount: Uint8Array<ArrayBuffer>
  maxTicks: number
  signature: Uint8Array<ArrayBuffer>
}

export namespace SignedTickCommitment {
  let _codec: Codec<SignedTickCommitment>

  export const codec = (): Codec<SignedTickCommitment> => {
    if (_codec == null) {
      _codec = message<SignedTickCommitment>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.chainId != null && obj.chainId !== 0n)) {
          w.uint32(8)
          w.uint64(obj.chainId)
        }

        if ((obj.contract != null && obj.contract.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.contract)
        }

        if ((obj.channelId != null && obj.channelId.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.channelId)
        }

        if ((obj.leaseId != null && obj.leaseId.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.leaseId)
        }

        if ((obj.tip != null && obj.tip.byteLength > 0)) {
          w.uint32(42)
          w.bytes(obj.tip)
        }

        if (obj.hashFunction != null && __HashFunctionValues[obj.hashFunction] !== 0) {
          w.uint32(48)
          HashFunction.codec().encode(obj.hashFunction, w)
        }

        if ((obj.amountPerTick != null && obj.amountPerTick.byteLength > 0)) {
          w.uint32(58)
          w.bytes(obj.amountPerTick)
        }

        if ((obj.baseAmount != null && obj.baseAmount.byteLength > 0)) {
          w.uint32(66)
          w.bytes(obj.baseAmount)
        }

        if ((obj.maxTicks != null && obj.maxTicks !== 0)) {
          w.uint32(72)
          w.uint32(obj.maxTicks)
        }

        if ((obj.signature != null && obj.signature.byteLength > 0)) {
          w.uint32(82)
          w.bytes(obj.signature)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          chainId: 0n,
          contract: uint8ArrayAlloc(0),
          channelId: uint8ArrayAlloc(0),
          leaseId: uint8ArrayAlloc(0),
          tip: uint8ArrayAlloc(0),
          hashFunction: HashFunction.KECCAK256,
          amountPerTick: uint8ArrayAlloc(0),
          baseAmount: uint8ArrayAlloc(0),
          maxTicks: 0,
          signature: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.chainId = reader.uint64()
              break
            }
            case 2: {
              obj.contract = reader.bytes()
              break
            }
            case 3: {
              obj.channelId = reader.bytes()
              break
            }
            case 4: {
              obj.leaseId = reader.bytes()
              break
            }
            case 5: {
              obj.tip = reader.bytes()
              break
            }
            case 6: {
              obj.hashFunction = HashFunction.codec().decode(reader)
              break
            }
            case 7: {
              obj.amountPerTick = reader.bytes()
              break
            }
            case 8: {
              obj.baseAmount = reader.bytes()
              break
            }
            case 9: {
              obj.maxTicks = reader.uint32()
              break
            }
            case 10: {
              obj.signature = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.chainId`,
                value: reader.uint64()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.contract`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.channelId`,
                value: reader.bytes()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.leaseId`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.tip`,
                value: reader.bytes()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.hashFunction`,
                value: HashFunction.codec().decode(reader)
              }
              break
            }
            case 7: {
              yield {
                field: `${prefix}.amountPerTick`,
                value: reader.bytes()
              }
              break
            }
            case 8: {
              yield {
                field: `${prefix}.baseAmount`,
                value: reader.bytes()
              }
              break
            }
            case 9: {
              yield {
                field: `${prefix}.maxTicks`,
                value: reader.uint32()
              }
              break
            }
            case 10: {
              yield {
                field: `${prefix}.signature`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SignedTickCommitmentChainIdFieldEvent {
    field: '$.chainId'
    value: bigint
  }

  export interface SignedTickCommitmentContractFieldEvent {
    field: '$.contract'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SignedTickCommitmentChannelIdFieldEvent {
    field: '$.channelId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SignedTickCommitmentLeaseIdFieldEvent {
    field: '$.leaseId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SignedTickCommitmentTipFieldEvent {
    field: '$.tip'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SignedTickCommitmentHashFunctionFieldEvent {
    field: '$.hashFunction'
    value: HashFunction
  }

  export interface SignedTickCommitmentAmountPerTickFieldEvent {
    field: '$.amountPerTick'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SignedTickCommitmentBaseAmountFieldEvent {
    field: '$.baseAmount'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SignedTickCommitmentMaxTicksFieldEvent {
    field: '$.maxTicks'
    value: number
  }

  export interface SignedTickCommitmentSignatureFieldEvent {
    field: '$.signature'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<SignedTickCommitment>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SignedTickCommitment.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SignedTickCommitment>): SignedTickCommitment {
    return decodeMessage(buf, SignedTickCommitment.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SignedTickCommitment>): Generator<SignedTickCommitmentChainIdFieldEvent | SignedTickCommitmentContractFieldEvent | SignedTickCommitmentChannelIdFieldEvent | SignedTickCommitmentLeaseIdFieldEvent | SignedTickCommitmentTipFieldEvent | SignedTickCommitmentHashFunctionFieldEvent | SignedTickCommitmentAmountPerTickFieldEvent | SignedTickCommitmentBaseAmountFieldEvent | SignedTickCommitmentMaxTicksFieldEvent | SignedTickCommitmentSignatureFieldEvent> {
    return streamMessage(buf, SignedTickCommitment.codec(), opts)
  }
}

export interface Tick {
  leaseId: Uint8Array<ArrayBuffer>
  index: number
  preimage: Uint8Array<ArrayBuffer>
}

export namespace Tick {
  let _codec: Codec<Tick>

  export const codec = (): Codec<Tick> => {
    if (_codec == null) {
      _codec = message<Tick>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.leaseId != null && obj.leaseId.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.leaseId)
        }

        if ((obj.index != null && obj.index !== 0)) {
          w.uint32(16)
          w.uint32(obj.index)
        }

        if ((obj.preimage != null && obj.preimage.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.preimage)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          leaseId: uint8ArrayAlloc(0),
          index: 0,
          preimage: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.leaseId = reader.bytes()
              break
            }
            case 2: {
              obj.index = reader.uint32()
              break
            }
            case 3: {
              obj.preimage = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.leaseId`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.index`,
                value: reader.uint32()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.preimage`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface TickLeaseIdFieldEvent {
    field: '$.leaseId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface TickIndexFieldEvent {
    field: '$.index'
    value: number
  }

  export interface TickPreimageFieldEvent {
    field: '$.preimage'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<Tick>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Tick.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Tick>): Tick {
    return decodeMessage(buf, Tick.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Tick>): Generator<TickLeaseIdFieldEvent | TickIndexFieldEvent | TickPreimageFieldEvent> {
    return streamMessage(buf, Tick.codec(), opts)
  }
}

export enum PaymentStatus {
  OK = 'OK',
  MALFORMED = 'MALFORMED',
  CHANNEL_MISMATCH = 'CHANNEL_MISMATCH',
  CHANNEL_NOT_OPEN = 'CHANNEL_NOT_OPEN',
  CHANNEL_CLOSING = 'CHANNEL_CLOSING',
  WRONG_CHAIN = 'WRONG_CHAIN',
  WRONG_CONTRACT = 'WRONG_CONTRACT',
  WRONG_SIGNER = 'WRONG_SIGNER',
  AMOUNT_NOT_INCREASING = 'AMOUNT_NOT_INCREASING',
  AMOUNT_EXCEEDS_DEPOSIT = 'AMOUNT_EXCEEDS_DEPOSIT',
  INVALID_PREIMAGE = 'INVALID_PREIMAGE',
  COMMITMENT_NOT_SIGNED = 'COMMITMENT_NOT_SIGNED',
  UNKNOWN_LEASE = 'UNKNOWN_LEASE',
  TICK_OUT_OF_RANGE = 'TICK_OUT_OF_RANGE',
  INTERNAL = 'INTERNAL'
}

enum __PaymentStatusValues {
  OK = 0,
  MALFORMED = 1,
  CHANNEL_MISMATCH = 2,
  CHANNEL_NOT_OPEN = 3,
  CHANNEL_CLOSING = 4,
  WRONG_CHAIN = 5,
  WRONG_CONTRACT = 6,
  WRONG_SIGNER = 7,
  AMOUNT_NOT_INCREASING = 8,
  AMOUNT_EXCEEDS_DEPOSIT = 9,
  INVALID_PREIMAGE = 10,
  COMMITMENT_NOT_SIGNED = 11,
  UNKNOWN_LEASE = 12,
  TICK_OUT_OF_RANGE = 13,
  INTERNAL = 14
}

export namespace PaymentStatus {
  export const codec = (): Codec<PaymentStatus> => {
    return enumeration<PaymentStatus>(__PaymentStatusValues)
  }
}

export interface PaymentAck {
  status: PaymentStatus
  total: Uint8Array<ArrayBuffer>
  message: string
}

export namespace PaymentAck {
  let _codec: Codec<PaymentAck>

  export const codec = (): Codec<PaymentAck> => {
    if (_codec == null) {
      _codec = message<PaymentAck>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.status != null && __PaymentStatusValues[obj.status] !== 0) {
          w.uint32(8)
          PaymentStatus.codec().encode(obj.status, w)
        }

        if ((obj.total != null && obj.total.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.total)
        }

        if ((obj.message != null && obj.message !== '')) {
          w.uint32(26)
          w.string(obj.message)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          status: PaymentStatus.OK,
          total: uint8ArrayAlloc(0),
          message: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.status = PaymentStatus.codec().decode(reader)
              break
            }
            case 2: {
              obj.total = reader.bytes()
              break
            }
            case 3: {
              obj.message = reader.string()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.status`,
                value: PaymentStatus.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.total`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.message`,
                value: reader.string()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface PaymentAckStatusFieldEvent {
    field: '$.status'
    value: PaymentStatus
  }

  export interface PaymentAckTotalFieldEvent {
    field: '$.total'
    value: Uint8Array<ArrayBuffer>
  }

  export interface PaymentAckMessageFieldEvent {
    field: '$.message'
    value: string
  }

  export function encode (obj: Partial<PaymentAck>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, PaymentAck.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PaymentAck>): PaymentAck {
    return decodeMessage(buf, PaymentAck.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PaymentAck>): Generator<PaymentAckStatusFieldEvent | PaymentAckTotalFieldEvent | PaymentAckMessageFieldEvent> {
    return streamMessage(buf, PaymentAck.codec(), opts)
  }
}
