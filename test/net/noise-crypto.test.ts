import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { type Ping, ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import { Uint8ArrayList } from 'uint8arraylist'
import { createNode, type ParkbenchNode } from '../../src/net/index.js'
import { cachedKeyCrypto } from '../../src/net/noise-crypto.js'

describe('noise crypto with kept private keys', () => {
  it('makes the same shared secrets as noise’s default crypto, from either side and any key form', () => {
    const crypto = cachedKeyCrypto()
    for (let i = 0; i < 20; i++) {
      const mine = crypto.generateX25519KeyPair()
      const theirs = defaultCrypto.generateX25519KeyPair()
      const seeded = crypto.generateX25519KeyPairFromSeed(defaultCrypto.generateX25519KeyPair().privateKey)
      const expected = Buffer.from(defaultCrypto.generateX25519SharedKey(theirs.privateKey, mine.publicKey))
      assert.deepEqual(Buffer.from(crypto.generateX25519SharedKey(mine.privateKey, theirs.publicKey)), expected)
      // A copy of the key (not the array noise got) and key bytes in a list: imported, same answer.
      assert.deepEqual(
        Buffer.from(crypto.generateX25519SharedKey(Uint8Array.from(mine.privateKey), theirs.publicKey)),
        expected,
      )
      assert.deepEqual(
        Buffer.from(
          crypto.generateX25519SharedKey(
            new Uint8ArrayList(mine.privateKey) as never,
            new Uint8ArrayList(theirs.publicKey) as never,
          ),
        ),
        expected,
      )
      assert.deepEqual(
        Buffer.from(crypto.generateX25519SharedKey(seeded.privateKey, theirs.publicKey)),
        Buffer.from(defaultCrypto.generateX25519SharedKey(theirs.privateKey, seeded.publicKey)),
      )
      // The seeded pair's public key is the one noise's default derives from the same seed.
      assert.deepEqual(
        Buffer.from(seeded.publicKey),
        Buffer.from(defaultCrypto.generateX25519KeyPairFromSeed(seeded.privateKey).publicKey),
      )
    }
  })

  describe('on the wire', () => {
    let ours: ParkbenchNode | undefined
    const stock: Array<Libp2p<{ ping: Ping }>> = []
    after(async () => {
      await ours?.stop()
      await Promise.all(stock.map((n) => n.stop()))
    })

    it('a parkbench node and nodes with stock noise connect, as dialer and as listener, and ping', async () => {
      ours = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
      for (let i = 0; i < 2; i++) {
        stock.push(
          await createLibp2p({
            addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
            transports: [tcp()],
            connectionEncrypters: [noise()],
            streamMuxers: [yamux()],
            services: { identify: identify(), ping: ping() },
          }),
        )
      }
      const signal = AbortSignal.timeout(10_000)
      // Ours as the listener (the noise responder), then as the dialer (the initiator).
      assert.ok((await stock[0]!.services.ping.ping(ours.getMultiaddrs()[0]!, { signal })) >= 0)
      assert.ok((await ours.services.ping.ping(stock[1]!.getMultiaddrs()[0]!, { signal })) >= 0)
      for (const peer of stock) assert.equal(ours.getConnections(peer.peerId)[0]?.encryption, '/noise')
    })
  })
})
