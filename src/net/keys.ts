import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { DATA_DIR_LAYOUT } from '../data-dir.js'
import { InvalidKeyFileError } from './errors.js'

/** The name of the peer key file inside a data dir. */
export const PEER_KEY_FILE = DATA_DIR_LAYOUT.peerKey

/**
 * Load the node's Ed25519 peer key from `dataDir`, creating it (mode 0600) on first start. The key is the node's
 * identity: its peer id, and the key that signs its offers and quotes.
 */
export async function loadOrCreatePeerKey(dataDir: string): Promise<PrivateKey> {
  const file = join(dataDir, PEER_KEY_FILE)
  let bytes: Uint8Array | undefined
  try {
    bytes = await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  if (bytes != null) {
    try {
      return privateKeyFromProtobuf(bytes)
    } catch (err) {
      throw new InvalidKeyFileError(`${file} is not a libp2p private key`, { cause: err })
    }
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const key = await generateKeyPair('Ed25519')
  // `wx` refuses to overwrite a key another process created in the meantime.
  await writeFile(file, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
  await chmod(file, 0o600)
  return key
}
