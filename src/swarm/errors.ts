import { ParkbenchError } from '../errors.js'

/** The base of the errors about a swarm run's report files; catch it to handle any of them. */
export class ReportError extends ParkbenchError {
  static override name = 'ReportError'
}

/** The folder has no report.json (the run did not finish, or the folder is not a run's). */
export class ReportNotFoundError extends ReportError {
  static override name = 'ReportNotFoundError'
  constructor(message = 'No report.json in the folder', options: ErrorOptions = {}) {
    super(message, 'REPORT_NOT_FOUND', options)
  }
}

/** report.json is not JSON, or not a report of a version this parkbench reads. */
export class InvalidReportError extends ReportError {
  static override name = 'InvalidReportError'
  constructor(message = 'report.json is not a swarm report', options: ErrorOptions = {}) {
    super(message, 'REPORT_INVALID', options)
  }
}

/** Reports that cannot be merged: not parts of one split run, or not all of its parts. */
export class ReportMergeError extends ReportError {
  static override name = 'ReportMergeError'
  constructor(message = 'The reports are not the parts of one run', options: ErrorOptions = {}) {
    super(message, 'REPORT_MERGE_INVALID', options)
  }
}
