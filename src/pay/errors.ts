import { ParkbenchError } from '../errors.js'

/**
 * Every payment check has its own error, in the order the receiver runs them (see {@link PAYMENT_CHECKS}), and the
 * chain actions map the contract's custom errors onto the same classes, so a caller sees one `code` whether a bad
 * proof was caught off-chain or on-chain. Codes double as `PaymentStatus` names on the wire.
 */
export class PayError extends ParkbenchError {
  static override name = 'PayError'
}

/** A payment message that does not decode or whose fields are out of range (sizes, lengths). */
export class MalformedPaymentError extends PayError {
  static override name = 'MalformedPaymentError'
  constructor(message = 'Malformed payment message', options: ErrorOptions = {}) {
    super(message, 'MALFORMED', options)
  }
}

/** The message names another channel than the one expected (e.g. not the lease's channel, or another provider's). */
export class ChannelMismatchError extends PayError {
  static override name = 'ChannelMismatchError'
  constructor(message = 'Payment is for another channel', options: ErrorOptions = {}) {
    super(message, 'CHANNEL_MISMATCH', options)
  }
}

/** The channel does not exist on-chain (never opened, or withdrawn). */
export class ChannelNotOpenError extends PayError {
  static override name = 'ChannelNotOpenError'
  constructor(message = 'Channel is not open', options: ErrorOptions = {}) {
    super(message, 'CHANNEL_NOT_OPEN', options)
  }
}

/** The renter has requested close: no new payments are taken on it (on-chain: no top-up, no second request). */
export class ChannelClosingError extends PayError {
  static override name = 'ChannelClosingError'
  constructor(message = 'Channel is closing', options: ErrorOptions = {}) {
    super(message, 'CHANNEL_CLOSING', options)
  }
}

/** Signed for another chain id. */
export class WrongChainError extends PayError {
  static override name = 'WrongChainError'
  constructor(message = 'Signed for another chain', options: ErrorOptions = {}) {
    super(message, 'WRONG_CHAIN', options)
  }
}

/** Signed for another contract. */
export class WrongContractError extends PayError {
  static override name = 'WrongContractError'
  constructor(message = 'Signed for another contract', options: ErrorOptions = {}) {
    super(message, 'WRONG_CONTRACT', options)
  }
}

/** The signature does not recover to the channel's renter (forged, or signed for other data). */
export class WrongSignerError extends PayError {
  static override name = 'WrongSignerError'
  constructor(message = "Not signed by the channel's renter", options: ErrorOptions = {}) {
    super(message, 'WRONG_SIGNER', options)
  }
}

/** The amount is not above what was already accepted (off-chain) or settled (on-chain): a replay or a step back. */
export class AmountNotIncreasingError extends PayError {
  static override name = 'AmountNotIncreasingError'
  constructor(message = 'Amount does not grow', options: ErrorOptions = {}) {
    super(message, 'AMOUNT_NOT_INCREASING', options)
  }
}

/** The amount is more than the channel's deposit. */
export class AmountExceedsDepositError extends PayError {
  static override name = 'AmountExceedsDepositError'
  constructor(message = "Amount exceeds the channel's deposit", options: ErrorOptions = {}) {
    super(message, 'AMOUNT_EXCEEDS_DEPOSIT', options)
  }
}

/** A tick whose preimage does not hash to the last accepted value of the lease's chain. */
export class InvalidPreimageError extends PayError {
  static override name = 'InvalidPreimageError'
  constructor(message = 'Tick is not the next preimage of the chain', options: ErrorOptions = {}) {
    super(message, 'INVALID_PREIMAGE', options)
  }
}

/** A tick commitment without a well-formed signature. */
export class CommitmentNotSignedError extends PayError {
  static override name = 'CommitmentNotSignedError'
  constructor(message = 'Tick commitment is not signed', options: ErrorOptions = {}) {
    super(message, 'COMMITMENT_NOT_SIGNED', options)
  }
}

/** A tick for a lease with no accepted commitment (or a lease a later one replaced). */
export class UnknownLeaseError extends PayError {
  static override name = 'UnknownLeaseError'
  constructor(message = 'No commitment for this lease', options: ErrorOptions = {}) {
    super(message, 'UNKNOWN_LEASE', options)
  }
}

/** A tick past the commitment's maxTicks (or tick 0 on-chain). */
export class TickOutOfRangeError extends PayError {
  static override name = 'TickOutOfRangeError'
  constructor(message = "Tick is outside the commitment's range", options: ErrorOptions = {}) {
    super(message, 'TICK_OUT_OF_RANGE', options)
  }
}

/** The caller is not the party the contract requires (renter for top-up/close/withdraw, provider for settle). */
export class NotChannelPartyError extends PayError {
  static override name = 'NotChannelPartyError'
  constructor(message = 'Not allowed for this account', options: ErrorOptions = {}) {
    super(message, 'NOT_CHANNEL_PARTY', options)
  }
}

/** Withdraw before the challenge window ended, or settle after it ended. */
export class ChallengeWindowError extends PayError {
  static override name = 'ChallengeWindowError'
  constructor(message = 'Not allowed at this point of the challenge window', options: ErrorOptions = {}) {
    super(message, 'CHALLENGE_WINDOW', options)
  }
}

/** A chain transaction reverted for another reason (deposit, transfer, re-entrancy) or the chain is unreachable. */
export class ChainError extends PayError {
  static override name = 'ChainError'
  constructor(message = 'Chain call failed', options: ErrorOptions = {}) {
    super(message, 'CHAIN_ERROR', options)
  }
}

/** The contract is not parkbench's PaymentChannel as committed (no code, or other code): never served on. */
export class UnknownContractError extends PayError {
  static override name = 'UnknownContractError'
  constructor(message = "Not parkbench's PaymentChannel contract", options: ErrorOptions = {}) {
    super(message, 'UNKNOWN_CONTRACT', options)
  }
}

/** The contract's challenge window is shorter than this node accepts: a renter could exit before it answers. */
export class ChallengePeriodTooShortError extends PayError {
  static override name = 'ChallengePeriodTooShortError'
  constructor(message = 'The challenge period is too short', options: ErrorOptions = {}) {
    super(message, 'CHALLENGE_PERIOD_TOO_SHORT', options)
  }
}

/** The chain config file is missing or invalid. */
export class ChainConfigError extends PayError {
  static override name = 'ChainConfigError'
  constructor(message = 'No usable chain config', options: ErrorOptions = {}) {
    super(message, 'CHAIN_CONFIG', options)
  }
}

/** The payment store is closed, or was opened by another process. */
export class PaymentStoreError extends PayError {
  static override name = 'PaymentStoreError'
  constructor(message = 'Payment store unavailable', options: ErrorOptions = {}) {
    super(message, 'PAYMENT_STORE', options)
  }
}

/**
 * The checks the receiver runs on each kind of payment message, in the order it runs them: each rule's error code
 * (protocols/README.md has the same tables with each rule spelled out; a test keeps the two equal). The first
 * failing rule is the one reported.
 */
export const PAYMENT_CHECKS = {
  commitment: [
    'MALFORMED',
    'CHANNEL_MISMATCH',
    'WRONG_CHAIN',
    'WRONG_CONTRACT',
    'CHANNEL_NOT_OPEN',
    'CHANNEL_MISMATCH',
    'CHANNEL_CLOSING',
    'COMMITMENT_NOT_SIGNED',
    'WRONG_SIGNER',
    'AMOUNT_NOT_INCREASING',
    'AMOUNT_EXCEEDS_DEPOSIT',
  ],
  tick: [
    'UNKNOWN_LEASE',
    'CHANNEL_NOT_OPEN',
    'CHANNEL_MISMATCH',
    'CHANNEL_CLOSING',
    'TICK_OUT_OF_RANGE',
    'INVALID_PREIMAGE',
    'AMOUNT_NOT_INCREASING',
    'AMOUNT_EXCEEDS_DEPOSIT',
  ],
  voucher: [
    'MALFORMED',
    'CHANNEL_MISMATCH',
    'WRONG_CHAIN',
    'WRONG_CONTRACT',
    'CHANNEL_NOT_OPEN',
    'CHANNEL_MISMATCH',
    'CHANNEL_CLOSING',
    'WRONG_SIGNER',
    'WRONG_SIGNER',
    'AMOUNT_NOT_INCREASING',
    'AMOUNT_EXCEEDS_DEPOSIT',
  ],
} as const

/** The contract's custom errors, by name, as the typed errors above. */
export function errorFromContractRevert(errorName: string, cause?: unknown): PayError {
  const options = cause === undefined ? {} : { cause }
  switch (errorName) {
    case 'ChannelNotFound':
      return new ChannelNotOpenError('Channel not found on-chain', options)
    case 'NotRenter':
      return new NotChannelPartyError("Only the channel's renter may do this", options)
    case 'NotProvider':
      return new NotChannelPartyError("Only the channel's provider may do this", options)
    case 'ChannelClosing':
      return new ChannelClosingError(undefined, options)
    case 'ChannelNotClosing':
      return new ChallengeWindowError('Request close before withdrawing', options)
    case 'ChallengeWindowOver':
      return new ChallengeWindowError('The challenge window is over', options)
    case 'ChallengeWindowOpen':
      return new ChallengeWindowError('The challenge window is still open', options)
    case 'AmountNotIncreasing':
      return new AmountNotIncreasingError('Amount is not above what was settled', options)
    case 'AmountExceedsDeposit':
      return new AmountExceedsDepositError(undefined, options)
    case 'InvalidSignature':
      return new WrongSignerError(undefined, options)
    case 'InvalidPreimage':
      return new InvalidPreimageError(undefined, options)
    case 'TickOutOfRange':
      return new TickOutOfRangeError(undefined, options)
    case 'ChallengePeriodTooShort':
      return new ChallengePeriodTooShortError('The challenge period is below the contract minimum (1 hour)', options)
    default:
      return new ChainError(`Contract reverted: ${errorName}`, options)
  }
}
