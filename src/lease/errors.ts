import { ParkbenchError } from '../errors.js'
import { EndReason, LeaseStatus } from './pb/lease.js'

/** The provider refused to quote or to start a lease; `status` says why (BUSY, PRICE_TOO_LOW, ...). */
export class LeaseRefusedError extends ParkbenchError {
  static override name = 'LeaseRefusedError'
  readonly status: LeaseStatus
  constructor(status: LeaseStatus, message = `Lease refused: ${status}`, options: ErrorOptions = {}) {
    super(message, `LEASE_${String(status)}`, options)
    this.status = status
  }
}

/** The provider's quote is malformed, unsigned, for someone else, or not what was asked. */
export class InvalidQuoteError extends ParkbenchError {
  static override name = 'InvalidQuoteError'
  constructor(message = 'Invalid quote', options: ErrorOptions = {}) {
    super(message, 'INVALID_QUOTE', options)
  }
}

/** The lease has ended; `reason` says how. */
export class LeaseEndedError extends ParkbenchError {
  static override name = 'LeaseEndedError'
  readonly reason: EndReason
  constructor(reason: EndReason, message = `Lease ended: ${reason}`, options: ErrorOptions = {}) {
    super(message, 'LEASE_ENDED', options)
    this.reason = reason
  }
}

/** The lease protocol was broken by the other side (unexpected or malformed frame). */
export class LeaseProtocolError extends ParkbenchError {
  static override name = 'LeaseProtocolError'
  constructor(message = 'Lease protocol error', options: ErrorOptions = {}) {
    super(message, 'LEASE_PROTOCOL', options)
  }
}

export { EndReason, LeaseStatus }
