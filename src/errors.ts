/**
 * The base of every error parkbench throws on purpose. Each domain (net, market, compute, pay, lease) adds its
 * own subclasses in its own errors.ts. Callers and tests match on `name` or `code`, never on message text:
 * both are stable across releases, and each code maps onto a wire status and a CLI exit code.
 */
export class ParkbenchError extends Error {
  static override name = 'ParkbenchError'
  /** A stable, upper-snake identifier, e.g. `OFFER_EXPIRED`. */
  readonly code: string

  constructor(message: string, code: string, options: ErrorOptions = {}) {
    super(message, options)
    this.code = code
    this.name = (this.constructor as { name: string }).name
  }
}

/** Bad user input: a flag, a config value or a file the user named. The CLI exits with code 2. */
export class InvalidInputError extends ParkbenchError {
  static override name = 'InvalidInputError'
  constructor(message = 'Invalid input', options: ErrorOptions = {}) {
    super(message, 'INVALID_INPUT', options)
  }
}

/** An operation ran past its deadline or its caller aborted it. */
export class AbortedError extends ParkbenchError {
  static override name = 'AbortedError'
  constructor(message = 'The operation was aborted', options: ErrorOptions = {}) {
    super(message, 'ABORTED', options)
  }
}
