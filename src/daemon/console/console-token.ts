import { randomBytes } from 'node:crypto'
import { chmod, readFile, writeFile } from 'node:fs/promises'
import { dataDirPath } from '../../data-dir.js'

/** 32 random bytes, base64url: what the console URL carries after `#token=`. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/

/**
 * The owner console's token, read from `<dataDir>/console.token` (mode 0600), or created there at the first start.
 * A file that holds no valid token (truncated, edited) is replaced: the token guards the console, it holds no money.
 */
export async function loadOrCreateConsoleToken(dataDir: string): Promise<string> {
  const file = dataDirPath(dataDir, 'consoleToken')
  try {
    const text = (await readFile(file, 'utf8')).trim()
    if (TOKEN_PATTERN.test(text)) {
      // Someone may have loosened it; the token is as secret as the keys beside it.
      await chmod(file, 0o600)
      return text
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const token = randomBytes(32).toString('base64url')
  await writeFile(file, `${token}\n`, { mode: 0o600 })
  await chmod(file, 0o600)
  return token
}
