import { AbortedError, ParkbenchError } from '../errors.js'
import { Status } from './pb/compute.js'

/**
 * The base of compute errors. Each one maps onto one wire {@link Status}, so a provider answers with the status of
 * the error it hit and the client throws the same class back.
 */
export class ComputeError extends ParkbenchError {
  static override name = 'ComputeError'
  /** The wire status this error travels as. */
  readonly status: Status

  constructor(message: string, code: string, status: Status, options: ErrorOptions = {}) {
    super(message, code, options)
    this.status = status
  }
}

/** The provider's job queue is full: retry later or elsewhere. */
export class BusyError extends ComputeError {
  static override name = 'BusyError'
  constructor(message = 'The provider job queue is full', options: ErrorOptions = {}) {
    super(message, 'BUSY', Status.BUSY, options)
  }
}

/** The admission policy refused the peer (no lease, or free mode is off). */
export class NotAuthorizedError extends ComputeError {
  static override name = 'NotAuthorizedError'
  constructor(message = 'Not authorized to run jobs on this provider', options: ErrorOptions = {}) {
    super(message, 'NOT_AUTHORIZED', Status.NOT_AUTHORIZED, options)
  }
}

/** No model with this sha256 is stored. */
export class ModelNotFoundError extends ComputeError {
  static override name = 'ModelNotFoundError'
  constructor(message = 'Model not found', options: ErrorOptions = {}) {
    super(message, 'MODEL_NOT_FOUND', Status.MODEL_NOT_FOUND, options)
  }
}

/** Wrong dtype or shape, a missing or unknown input or output name, or tensor bytes that do not match the dims. */
export class InvalidInferenceInputError extends ComputeError {
  static override name = 'InvalidInferenceInputError'
  constructor(message = 'Invalid inference input', options: ErrorOptions = {}) {
    super(message, 'INVALID_INFERENCE_INPUT', Status.INVALID_INPUT, options)
  }
}

/** A request, tensor, response or model over the configured limits. */
export class TooLargeError extends ComputeError {
  static override name = 'TooLargeError'
  constructor(message = 'Over the size limit', options: ErrorOptions = {}) {
    super(message, 'TOO_LARGE', Status.TOO_LARGE, options)
  }
}

/** The job ran past its deadline, queue wait included. */
export class DeadlineExceededError extends ComputeError {
  static override name = 'DeadlineExceededError'
  constructor(message = 'The job ran past its deadline', options: ErrorOptions = {}) {
    super(message, 'DEADLINE_EXCEEDED', Status.DEADLINE_EXCEEDED, options)
  }
}

/** The worker process running the job died. The pool replaced it; the job is not retried. */
export class WorkerCrashedError extends ComputeError {
  static override name = 'WorkerCrashedError'
  constructor(message = 'The worker running the job crashed', options: ErrorOptions = {}) {
    super(message, 'WORKER_CRASHED', Status.WORKER_CRASHED, options)
  }
}

/** onnxruntime rejected the inputs or failed while running. */
export class InferenceFailedError extends ComputeError {
  static override name = 'InferenceFailedError'
  constructor(message = 'Inference failed', options: ErrorOptions = {}) {
    super(message, 'INFERENCE_FAILED', Status.INFERENCE_FAILED, options)
  }
}

/** A request frame that does not decode, or a field with an impossible value. */
export class MalformedRequestError extends ComputeError {
  static override name = 'MalformedRequestError'
  constructor(message = 'Malformed request', options: ErrorOptions = {}) {
    super(message, 'MALFORMED_REQUEST', Status.MALFORMED_REQUEST, options)
  }
}

/** The compute service stopped (or is stopping) before the job finished. */
export class ShuttingDownError extends ComputeError {
  static override name = 'ShuttingDownError'
  constructor(message = 'The compute service is stopping', options: ErrorOptions = {}) {
    super(message, 'SHUTTING_DOWN', Status.SHUTTING_DOWN, options)
  }
}

/** Model bytes that do not hash to the announced sha256. */
export class HashMismatchError extends ComputeError {
  static override name = 'HashMismatchError'
  constructor(message = 'Model bytes do not match their sha256', options: ErrorOptions = {}) {
    super(message, 'HASH_MISMATCH', Status.HASH_MISMATCH, options)
  }
}

/** A file onnxruntime cannot load as a model. */
export class InvalidModelError extends ComputeError {
  static override name = 'InvalidModelError'
  constructor(message = 'onnxruntime cannot load this model', options: ErrorOptions = {}) {
    super(message, 'INVALID_MODEL', Status.INVALID_MODEL, options)
  }
}

/** Anything else that went wrong on the provider. */
export class ComputeInternalError extends ComputeError {
  static override name = 'ComputeInternalError'
  constructor(message = 'Internal compute error', options: ErrorOptions = {}) {
    super(message, 'COMPUTE_INTERNAL_ERROR', Status.INTERNAL_ERROR, options)
  }
}

type ComputeErrorClass = new (message?: string, options?: ErrorOptions) => ComputeError

const BY_STATUS: Partial<Record<Status, ComputeErrorClass>> = {
  [Status.BUSY]: BusyError,
  [Status.NOT_AUTHORIZED]: NotAuthorizedError,
  [Status.MODEL_NOT_FOUND]: ModelNotFoundError,
  [Status.INVALID_INPUT]: InvalidInferenceInputError,
  [Status.TOO_LARGE]: TooLargeError,
  [Status.DEADLINE_EXCEEDED]: DeadlineExceededError,
  [Status.WORKER_CRASHED]: WorkerCrashedError,
  [Status.INFERENCE_FAILED]: InferenceFailedError,
  [Status.MALFORMED_REQUEST]: MalformedRequestError,
  [Status.SHUTTING_DOWN]: ShuttingDownError,
  [Status.HASH_MISMATCH]: HashMismatchError,
  [Status.INVALID_MODEL]: InvalidModelError,
  [Status.INTERNAL_ERROR]: ComputeInternalError,
}

/** The error a client throws for a non-OK status from a provider. */
export function errorFromStatus(status: Status | undefined, message: string): ComputeError {
  const ErrorClass = status === undefined ? undefined : BY_STATUS[status]
  if (ErrorClass === undefined) return new ComputeInternalError(`Unexpected status ${String(status)}: ${message}`)
  return new ErrorClass(message === '' ? undefined : message)
}

/** The wire status for any error a provider hit while serving a request. */
export function statusFromError(err: unknown): Status {
  if (err instanceof ComputeError) return err.status
  // A job aborted (cancelled by its client, or the provider's deadline) reports as past its deadline.
  if (err instanceof AbortedError) return Status.DEADLINE_EXCEEDED
  return Status.INTERNAL_ERROR
}
