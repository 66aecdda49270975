import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import type { AbortOptions } from '@libp2p/interface'

/** The lowercase hex sha256 of a file (how models are addressed), read in 1 MiB chunks. */
export async function sha256OfFile(path: string, options: AbortOptions = {}): Promise<string> {
  const hash = createHash('sha256')
  const file = await open(path, 'r')
  try {
    for await (const chunk of file.createReadStream({ autoClose: false, highWaterMark: 1 << 20 })) {
      options.signal?.throwIfAborted()
      hash.update(chunk as Buffer)
    }
  } finally {
    await file.close()
  }
  return hash.digest('hex')
}
