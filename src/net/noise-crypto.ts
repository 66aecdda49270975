import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'

/** DER prefixes of an X25519 key: PKCS#8 private, SPKI public (RFC 8410). */
const PKCS8_PREFIX = Buffer.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
])
const SPKI_PREFIX = Buffer.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00])

/**
 * Noise's own crypto (`defaultCrypto` of @chainsafe/libp2p-noise) with one change: the X25519 private keys it makes
 * are kept as node:crypto KeyObjects beside their raw bytes, so a Diffie-Hellman does not import the private key
 * again. Importing it (`createPrivateKey`, which derives the public key: a scalar multiplication) was ~360 of the
 * ~460 us a DH costs here, and a handshake does three DHs a side; with the key kept a DH is ~100 us. Everything on
 * the wire is unchanged (same keys, same shared secrets): a peer with noise's default crypto interoperates.
 * A raw private key that noise did not get from here (none today) is imported as before.
 */
export function cachedKeyCrypto(): ICryptoInterface {
  // Keyed by the exact Uint8Array noise holds as the key pair's privateKey; gone with the handshake state.
  const keys = new WeakMap<Uint8Array, KeyObject>()
  const remember = (raw: Uint8Array, key: KeyObject): Uint8Array => {
    keys.set(raw, key)
    return raw
  }
  return {
    ...defaultCrypto,
    generateX25519KeyPair() {
      const { publicKey, privateKey } = generateKeyPairSync('x25519')
      const pub = publicKey.export({ type: 'spki', format: 'der' }).subarray(SPKI_PREFIX.length)
      const priv = privateKey.export({ type: 'pkcs8', format: 'der' }).subarray(PKCS8_PREFIX.length)
      return { publicKey: pub, privateKey: remember(priv, privateKey) }
    },
    generateX25519KeyPairFromSeed(seed) {
      const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), type: 'pkcs8', format: 'der' })
      const pub = createPublicKey(privateKey).export({ type: 'spki', format: 'der' }).subarray(SPKI_PREFIX.length)
      return { publicKey: pub, privateKey: remember(seed, privateKey) }
    },
    generateX25519SharedKey(privateKey, publicKey) {
      const raw = privateKey instanceof Uint8Array ? privateKey : privateKey.subarray()
      const key =
        (privateKey instanceof Uint8Array ? keys.get(privateKey) : undefined) ??
        createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), type: 'pkcs8', format: 'der' })
      const pub = publicKey instanceof Uint8Array ? publicKey : publicKey.subarray()
      return diffieHellman({
        privateKey: key,
        publicKey: createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), type: 'spki', format: 'der' }),
      })
    },
  }
}
