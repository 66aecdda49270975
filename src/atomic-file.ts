import { open, rename } from 'node:fs/promises'
import { dirname } from 'node:path'

/**
 * Replace a file so that a reader sees the old or the new text, never a torn one, and the new text survives a
 * crash or power cut once this resolves: write a temp file beside it, fsync it, rename it over, fsync the folder.
 */
export async function writeFileDurable(path: string, text: string, mode = 0o600): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  const file = await open(tmp, 'w', mode)
  try {
    await file.writeFile(text)
    await file.sync()
  } finally {
    await file.close()
  }
  await rename(tmp, path)
  const dir = await open(dirname(path), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}
