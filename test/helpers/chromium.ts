import { constants } from 'node:fs'
import { access } from 'node:fs/promises'
import { type Browser, launch } from 'puppeteer-core'

/** Debian's chromium: tests drive a real browser, and puppeteer-core never downloads one. */
export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium'

/**
 * Fail (never skip) a test file on a machine without chromium: call it at the top level, before any test is
 * declared.
 */
export async function requireChromium(): Promise<void> {
  await access(CHROMIUM, constants.X_OK).catch((err: unknown) => {
    throw new Error(
      `chromium is needed for this test and was not found at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`,
      { cause: err },
    )
  })
}

/** Headless chromium as the suite runs it (as root, where Chromium's own sandbox refuses to start). */
export function launchChromium(options: { timeoutMs?: number } = {}): Promise<Browser> {
  return launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    ...(options.timeoutMs != null ? { timeout: options.timeoutMs } : {}),
  })
}
