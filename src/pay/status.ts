import {
  AmountExceedsDepositError,
  AmountNotIncreasingError,
  ChannelClosingError,
  ChannelMismatchError,
  ChannelNotOpenError,
  CommitmentNotSignedError,
  InvalidPreimageError,
  MalformedPaymentError,
  PayError,
  PaymentStoreError,
  TickOutOfRangeError,
  UnknownLeaseError,
  WrongChainError,
  WrongContractError,
  WrongSignerError,
} from './errors.js'
import { amountFromBytes, amountToBytes } from './messages.js'
import { type PaymentAck, PaymentStatus } from './pb/pay.js'

const STATUS_ERRORS: Partial<Record<PaymentStatus, new (message?: string) => PayError>> = {
  [PaymentStatus.MALFORMED]: MalformedPaymentError,
  [PaymentStatus.CHANNEL_MISMATCH]: ChannelMismatchError,
  [PaymentStatus.CHANNEL_NOT_OPEN]: ChannelNotOpenError,
  [PaymentStatus.CHANNEL_CLOSING]: ChannelClosingError,
  [PaymentStatus.WRONG_CHAIN]: WrongChainError,
  [PaymentStatus.WRONG_CONTRACT]: WrongContractError,
  [PaymentStatus.WRONG_SIGNER]: WrongSignerError,
  [PaymentStatus.AMOUNT_NOT_INCREASING]: AmountNotIncreasingError,
  [PaymentStatus.AMOUNT_EXCEEDS_DEPOSIT]: AmountExceedsDepositError,
  [PaymentStatus.INVALID_PREIMAGE]: InvalidPreimageError,
  [PaymentStatus.COMMITMENT_NOT_SIGNED]: CommitmentNotSignedError,
  [PaymentStatus.UNKNOWN_LEASE]: UnknownLeaseError,
  [PaymentStatus.TICK_OUT_OF_RANGE]: TickOutOfRangeError,
  [PaymentStatus.INTERNAL]: PaymentStoreError,
}

/** The wire status for an error a receiver threw (anything unexpected, e.g. a failed store write, is INTERNAL). */
export function paymentStatusOf(err: unknown): PaymentStatus {
  const code = (err as { code?: string })?.code
  if (err instanceof PayError && code != null && code in PaymentStatus && code !== 'OK') {
    return code as PaymentStatus
  }
  return PaymentStatus.INTERNAL
}

/** The ack a provider sends: OK with the channel's total, or the failed check's status. */
export function paymentAck(result: { total: bigint } | { error: unknown }): PaymentAck {
  if ('error' in result) {
    const status = paymentStatusOf(result.error)
    // Internal failures are not described to the peer.
    const message = status === PaymentStatus.INTERNAL ? 'internal error' : String((result.error as Error)?.message)
    return { status, total: new Uint8Array(0), message: message.slice(0, 200) }
  }
  return { status: PaymentStatus.OK, total: amountToBytes(result.total), message: '' }
}

/**
 * The renter's reading of an ack: the accepted total, or the typed error of the failed check (the same class the
 * provider threw).
 */
export function readPaymentAck(ack: PaymentAck): bigint {
  if (ack.status === PaymentStatus.OK) return amountFromBytes(ack.total)
  const ErrorClass = STATUS_ERRORS[ack.status] ?? MalformedPaymentError
  // The message comes from the peer: bounded, never trusted for anything but display.
  const detail = ack.message.slice(0, 200)
  throw new ErrorClass(`Provider refused the payment: ${ack.status}${detail !== '' ? ` (${detail})` : ''}`)
}

export { PaymentStatus }
