import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { type ModelRecord, ModelStore, pushModel } from '../../src/compute/index.js'
import { toModelSpec } from '../../src/daemon/index.js'
import { OFFER_LIMITS, signOffer, verifySignedOffer } from '../../src/market/offer.js'
import { OFFER_CATALOG } from '../../src/market/offerable.js'
import { type Pair, startPair } from '../compute/helpers.js'
import { buildModel, identityModel, padModel, type ValueInfo } from '../compute/onnx-builder.js'

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

/** `y_i = Identity(x_i)` for `count` inputs named `x<i><suffix>` of shape `dims`. */
function wideModel(count: number, dims: Array<number | string> = ['n'], suffix = ''): Uint8Array {
  const io = (prefix: string, i: number): ValueInfo => ({ name: `${prefix}${i}${suffix}`, type: 'float32', dims })
  return buildModel({
    nodes: Array.from({ length: count }, (_, i) => ({
      op: 'Identity',
      inputs: [`x${i}${suffix}`],
      outputs: [`y${i}${suffix}`],
    })),
    inputs: Array.from({ length: count }, (_, i) => io('x', i)),
    outputs: Array.from({ length: count }, (_, i) => io('y', i)),
  })
}

/** Sign an offer listing `records` the way the daemon lists them and check it as a client would. */
async function offerVerifies(records: ModelRecord[]): Promise<void> {
  const key = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(key)
  const signed = await signOffer(key, {
    peerId: peerId.toMultihash().bytes,
    runtime: 'onnx/cpu',
    payoutAddress: new Uint8Array(20),
    chainId: 31337n,
    channelContract: new Uint8Array(20),
    token: new Uint8Array(0),
    tokenSymbol: 'ETH',
    pricePerSecond: 1000n,
    threads: 2,
    memoryBytes: 1n << 30n,
    models: records.map(toModelSpec),
    maxLeaseSeconds: 3600,
    region: 'eu-west',
    sequence: BigInt(Date.now()),
    expiresAtMs: BigInt(Date.now() + 600_000),
  })
  const bytes = signed.offer.byteLength + signed.signature.byteLength + 8
  assert.ok(bytes <= OFFER_LIMITS.maxBytes, `signed offer of ${bytes} bytes`)
  await verifySignedOffer(signed, { expectedPeer: peerId })
}

describe('a provider stores only models its offer can list (OFFER_LIMITS)', () => {
  let pair: Pair
  before(async () => {
    pair = await startPair({ maxModelBytes: 4 * 1024 * 1024, catalog: OFFER_CATALOG })
  })
  after(async () => {
    await pair.stop()
  })

  const tooWide = wideModel(70)
  const tooDeep = buildModel({
    nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
    inputs: [{ name: 'x', type: 'float32', dims: new Array(33).fill(1) }],
    outputs: [{ name: 'y', type: 'float32', dims: new Array(33).fill(1) }],
  })
  const longName = buildModel({
    nodes: [{ op: 'Identity', inputs: ['x'.repeat(300_000)], outputs: ['y'] }],
    inputs: [{ name: 'x'.repeat(300_000), type: 'float32', dims: [1] }],
    outputs: [{ name: 'y', type: 'float32', dims: [1] }],
  })

  it('refuses a model with 70 inputs, 33 dims or a 300 KB input name as INVALID_MODEL: push and model add', async () => {
    for (const model of [tooWide, tooDeep, longName]) {
      await assert.rejects(pushModel(pair.client, pair.provider.getMultiaddrs(), model), {
        name: 'InvalidModelError',
        code: 'INVALID_MODEL',
      })
      assert.equal(await pair.compute.store.has(sha(model)), false)
      // `parkbench model add` goes through a store of its own, with onnxruntime in the calling thread.
      const cli = new ModelStore({ dataDir: pair.dataDir, catalog: OFFER_CATALOG })
      await assert.rejects(cli.add(model), { name: 'InvalidModelError' })
    }
  })

  it('refuses such a model fetched from a peer that holds it', async () => {
    // A peer whose store predates the check holds one: written into its data dir directly.
    const holder = await startPair()
    try {
      await writeFile(join(holder.dataDir, 'wide.onnx'), tooWide)
      const { inputs, outputs } = await holder.compute.pool.inspect(join(holder.dataDir, 'wide.onnx'))
      await mkdir(holder.compute.store.dir, { recursive: true })
      await writeFile(holder.compute.store.modelPath(sha(tooWide)), tooWide)
      await holder.compute.store.storeRecord({
        sha256: sha(tooWide),
        name: 'wide',
        sizeBytes: tooWide.byteLength,
        addedAt: new Date().toISOString(),
        inputs,
        outputs,
      })
      await assert.rejects(pair.compute.fetchModel(holder.provider.getMultiaddrs(), sha(tooWide)), {
        name: 'InvalidModelError',
      })
      assert.equal(await pair.compute.store.has(sha(tooWide)), false)
    } finally {
      await holder.stop()
    }
  })

  it('holds at most 256 models, and the offer of a full store passes the client checks', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parkbench-offer-'))
    try {
      const store = new ModelStore({ dataDir, catalog: OFFER_CATALOG })
      const base = identityModel(['float32'])
      for (let i = 0; i < OFFER_LIMITS.maxModels; i++) {
        await store.add(padModel(base, i + 1), { name: `model-${i}-${'n'.repeat(180)}` })
      }
      await assert.rejects(store.add(padModel(base, 10_000)), { name: 'TooLargeError', code: 'TOO_LARGE' })
      // Refused before any byte is accepted, too.
      await assert.rejects(store.createWriter({ sha256: 'ab'.repeat(32), sizeBytes: 10, name: 'x' }), {
        name: 'TooLargeError',
      })
      const records = await store.list()
      assert.equal(records.length, OFFER_LIMITS.maxModels)
      await offerVerifies(records)
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  })

  it('stops before the offer outgrows 256 KiB, however the models fill it', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parkbench-offer-'))
    try {
      const store = new ModelStore({ dataDir, catalog: OFFER_CATALOG })
      // 64 inputs and 64 outputs with long names: about 14 KiB each in an offer.
      let refused: Error | undefined
      for (let i = 0; i < 40 && refused === undefined; i++) {
        await store.add(wideModel(64, ['n'], `_${i}_${'z'.repeat(90)}`)).catch((err: Error) => {
          refused = err
        })
      }
      assert.equal(refused?.name, 'TooLargeError')
      await offerVerifies(await store.list())
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  })
})
