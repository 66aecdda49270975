import assert from 'node:assert/strict'
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreatePeerKey, PEER_KEY_FILE } from '../../src/net/keys.js'

describe('loadOrCreatePeerKey', () => {
  it('creates an Ed25519 key with mode 0600 and returns the same identity on the next start', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'pb-key-')), 'nested')
    const first = await loadOrCreatePeerKey(dir)
    const mode = (await stat(join(dir, PEER_KEY_FILE))).mode & 0o777
    assert.equal(mode, 0o600)
    assert.equal(first.type, 'Ed25519')
    const second = await loadOrCreatePeerKey(dir)
    assert.ok(peerIdFromPrivateKey(first).equals(peerIdFromPrivateKey(second)))
    assert.ok((await readFile(join(dir, PEER_KEY_FILE))).length > 32)
  })

  it('refuses a corrupt key file with a typed error instead of replacing the identity', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pb-key-'))
    await writeFile(join(dir, PEER_KEY_FILE), 'not a key')
    await assert.rejects(loadOrCreatePeerKey(dir), { name: 'InvalidKeyFileError', code: 'INVALID_KEY_FILE' })
    assert.equal(await readFile(join(dir, PEER_KEY_FILE), 'utf8'), 'not a key')
  })
})
