import { ParkbenchError } from '../errors.js'

/** The daemon is asked to sell but has no chain to be paid on. */
export class NoPaymentTermsError extends ParkbenchError {
  static override name = 'NoPaymentTermsError'
  constructor(
    message = 'No payment terms: run `parkbench chain` or set payment in config.json',
    options: ErrorOptions = {},
  ) {
    super(message, 'NO_PAYMENT_TERMS', options)
  }
}
