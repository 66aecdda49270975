import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileDurable } from '../atomic-file.js'
import { toJson } from '../json.js'
import { InvalidReportError, ReportNotFoundError } from './errors.js'
import { renderReportHtml } from './report-html.js'
import type { SwarmReport } from './report-types.js'
import { parseReport } from './report-validate.js'

/** The file names a run's folder holds. */
export const REPORT_JSON = 'report.json'
export const REPORT_HTML = 'report.html'

/** Reports are for reading and sharing, unlike the key and payment files the daemon writes 0o600. */
const REPORT_FILE_MODE = 0o644

export interface WriteReportReturnType {
  jsonPath: string
  htmlPath: string
}

/**
 * Write a run's `report.json` (pretty) and `report.html` into `dir`, creating it. Each file is replaced
 * atomically, so a reader never sees half a report; the JSON goes first, as it is the record.
 *
 * @example
 * ```ts
 * const { htmlPath } = await writeReport('runs/x', report)
 * ```
 */
export async function writeReport(dir: string, report: SwarmReport): Promise<WriteReportReturnType> {
  const html = renderReportHtml(report)
  await mkdir(dir, { recursive: true })
  const jsonPath = join(dir, REPORT_JSON)
  const htmlPath = join(dir, REPORT_HTML)
  await writeFileDurable(jsonPath, `${toJson(report)}\n`, REPORT_FILE_MODE)
  await writeFileDurable(htmlPath, html, REPORT_FILE_MODE)
  return { jsonPath, htmlPath }
}

/**
 * Read and check `dir/report.json`. Throws `ReportNotFoundError` (REPORT_NOT_FOUND) when there is none and
 * `InvalidReportError` (REPORT_INVALID) when it is not JSON or not a version-1 report.
 */
export async function readReport(dir: string): Promise<SwarmReport> {
  const path = join(dir, REPORT_JSON)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ReportNotFoundError(`No ${REPORT_JSON} in ${dir}`, { cause: err })
    }
    throw err
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new InvalidReportError(`${path} is not JSON`, { cause: err })
  }
  return parseReport(value)
}
