import { InvalidInferenceInputError } from '../compute/errors.js'
import { InvalidInputError, ParkbenchError } from '../errors.js'
import { ChainError, PayError } from '../pay/errors.js'

/** One provider the client tried, and why it could not serve. */
export interface ProviderAttempt {
  /** The provider's full peer id. */
  providerPeer: string
  /** What went wrong, in full. */
  error: string
  /** The typed error's code, when it had one (e.g. `LEASE_BUSY`, `PEER_UNREACHABLE`). */
  code?: string
}

/**
 * No provider could serve: none was found, every one found is over the price ceiling (`cheapestPricePerSecond`
 * says what the cheapest asks), or every one tried failed (`attempts` says why, each in full). The renter's own
 * mistakes (a bad input, no funds, no chain) are never reported as this: they have their own errors.
 */
export class NoProviderError extends ParkbenchError {
  static override name = 'NoProviderError'
  readonly attempts: ProviderAttempt[]
  /** The cheapest price on offer, when every provider found asks more than the ceiling. */
  readonly cheapestPricePerSecond: bigint | undefined
  /**
   * How many providers discovery found, when known: more than 0 with no `attempts` means each one was skipped (it
   * failed recently, or this client already holds a lease on it, e.g. for another model).
   */
  readonly found: number | undefined
  constructor(
    message: string,
    details: { attempts?: ProviderAttempt[]; cheapestPricePerSecond?: bigint; found?: number } = {},
    options: ErrorOptions = {},
  ) {
    const attempts = details.attempts ?? []
    super(
      attempts.length === 0
        ? message
        : `${message}: ${attempts.map((a) => `${a.providerPeer}: ${a.error}`).join('; ')}`,
      'NO_PROVIDER',
      options,
    )
    this.attempts = attempts
    this.cheapestPricePerSecond = details.cheapestPricePerSecond
    this.found = details.found
  }
}

/** The renter's account cannot fund the channel it needs (native coin or token balance, gas included). */
export class InsufficientBalanceError extends ParkbenchError {
  static override name = 'InsufficientBalanceError'
  constructor(message = 'The account cannot fund a channel', options: ErrorOptions = {}) {
    super(message, 'INSUFFICIENT_BALANCE', options)
  }
}

/** A paid request on a client created without a chain and an account (it can only ask free providers). */
export class PaymentNotConfiguredError extends ParkbenchError {
  static override name = 'PaymentNotConfiguredError'
  constructor(
    message = 'This client has no chain and account: pass both to createClient to rent paid compute',
    options: ErrorOptions = {},
  ) {
    super(message, 'PAYMENT_NOT_CONFIGURED', options)
  }
}

/** Errors that are the renter's own (or its chain's), never a provider's: no failover, reported as they are. */
export function isRenterSide(err: unknown): boolean {
  return (
    err instanceof InvalidInferenceInputError ||
    err instanceof InvalidInputError ||
    err instanceof InsufficientBalanceError ||
    err instanceof PaymentNotConfiguredError ||
    err instanceof ChainError ||
    (err instanceof PayError && err.name === 'UnknownContractError')
  )
}
