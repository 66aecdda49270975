import { ParkbenchError } from '../errors.js'

/**
 * An error the gateway answers with: its HTTP status and a stable `code` (ours; the Open Inference Protocol itself
 * has only `{"error": "..."}`). Every request the gateway cannot serve gets one of these, never a crash.
 */
export class GatewayError extends ParkbenchError {
  static override name = 'GatewayError'
  readonly status: number
  constructor(message: string, code: string, status: number, options: ErrorOptions = {}) {
    super(message, code, options)
    this.status = status
  }
}

/** The body is not an inference request: bad JSON, a missing field, a bad header or binary section. */
export class InvalidOipRequestError extends GatewayError {
  static override name = 'InvalidOipRequestError'
  constructor(message = 'Invalid inference request', options: ErrorOptions = {}) {
    super(message, 'INVALID_REQUEST', 400, options)
  }
}

/** One tensor is wrong: its name, datatype, shape or data. `tensor` names it. */
export class InvalidTensorError extends GatewayError {
  static override name = 'InvalidTensorError'
  readonly tensor: string | undefined
  constructor(message: string, tensor?: string, options: ErrorOptions = {}) {
    super(message, 'INVALID_TENSOR', 400, options)
    this.tensor = tensor
  }
}

/** No model by that sha256 or alias. */
export class UnknownModelError extends GatewayError {
  static override name = 'UnknownModelError'
  constructor(message = 'Unknown model', options: ErrorOptions = {}) {
    super(message, 'UNKNOWN_MODEL', 404, options)
  }
}

/** No API key, or one that is unknown or revoked. */
export class UnauthorizedError extends GatewayError {
  static override name = 'UnauthorizedError'
  constructor(message = 'A valid API key is required (Authorization: Bearer KEY)', options: ErrorOptions = {}) {
    super(message, 'UNAUTHORIZED', 401, options)
  }
}

/** Which cap a key would pass. */
export type BudgetCap = 'per-hour' | 'per-day' | 'total'

/** A key's cap would be passed by this request: `cap` says which, `resetsAt` when it resets (never for `total`). */
export class BudgetExceededError extends GatewayError {
  static override name = 'BudgetExceededError'
  readonly cap: BudgetCap
  readonly limit: bigint
  readonly spent: bigint
  readonly reserved: bigint
  /** Epoch ms at which the cap's window restarts; undefined for the total cap. */
  readonly resetsAt: number | undefined
  constructor(details: { cap: BudgetCap; limit: bigint; spent: bigint; reserved: bigint; resetsAt?: number }) {
    super(
      `Over budget: the ${details.cap} cap is ${details.limit} wei, ${details.spent} spent and ${details.reserved} reserved` +
        (details.resetsAt != null ? `; resets at ${new Date(details.resetsAt).toISOString()}` : '; it never resets'),
      'BUDGET_EXCEEDED',
      402,
    )
    this.cap = details.cap
    this.limit = details.limit
    this.spent = details.spent
    this.reserved = details.reserved
    this.resetsAt = details.resetsAt
  }
}

/** The body or a header is over the gateway's limit. */
export class PayloadTooLargeError extends GatewayError {
  static override name = 'PayloadTooLargeError'
  constructor(message = 'The request body is too large', options: ErrorOptions = {}) {
    super(message, 'PAYLOAD_TOO_LARGE', 413, options)
  }
}

/** As many requests as the gateway runs at once are running. */
export class GatewayBusyError extends GatewayError {
  static override name = 'GatewayBusyError'
  constructor(message = 'Too many requests in flight: retry shortly', options: ErrorOptions = {}) {
    super(message, 'BUSY', 429, options)
  }
}

/** No route, or a method the route does not take. */
export class RouteNotFoundError extends GatewayError {
  static override name = 'RouteNotFoundError'
  constructor(message = 'Not found', status = 404, options: ErrorOptions = {}) {
    super(message, status === 405 ? 'METHOD_NOT_ALLOWED' : 'NOT_FOUND', status, options)
  }
}
