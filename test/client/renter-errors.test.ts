import assert from 'node:assert/strict'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Tensor } from 'onnxruntime-node'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import {
  createClient,
  InsufficientBalanceError,
  NoProviderError,
  PaymentNotConfiguredError,
  type RenterClient,
} from '../../src/client/index.js'
import { InvalidInferenceInputError } from '../../src/compute/errors.js'
import { resolveConfig } from '../../src/daemon/config.js'
import { createDaemon, type Daemon } from '../../src/daemon/daemon.js'
import { InvalidInputError } from '../../src/errors.js'
import { listChannels } from '../../src/pay/actions/list-channels.js'
import { createPayPublicClient } from '../../src/pay/clients.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { ChainError } from '../../src/pay/errors.js'
import { addModel, matmulModel } from '../compute/onnx-builder.js'

const x = () => new Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3])

/** The renter's own mistakes fail at once with their own errors: no channel, no lease, no tick, no failover. */
describe("the renter's own mistakes are its own typed errors, before anything is paid", () => {
  let chain: DevChain
  let provider: Daemon
  let client: RenterClient
  let dir: string
  const events: string[] = []

  before(async () => {
    chain = await startDevChain()
    dir = await mkdtemp(join(tmpdir(), 'pb-renter-errors-'))
    provider = createDaemon({
      config: resolveConfig(join(dir, 'provider'), {
        listen: ['/ip4/127.0.0.1/tcp/0'],
        offer: { pricePerSecond: '1000', threads: 2, maxLeaseSeconds: 60 },
      }),
      chain,
      account: privateKeyToAccount(chain.accounts[2]!.privateKey),
      control: false,
    })
    await provider.start()
    await provider.compute.store.add(addModel(), { name: 'add.onnx' })
    await provider.syncModels()
    client = await createClient({
      dataDir: join(dir, 'renter'),
      chain,
      account: privateKeyToAccount(chain.accounts[1]!.privateKey),
      bootstrap: provider.node.getMultiaddrs().map((a) => a.toString()),
      onEvent: (e) => events.push(e.type),
    })
  })

  after(async () => {
    await client?.close()
    await provider?.stop()
    await chain?.stop()
  })

  const renterChannels = async () =>
    (
      await listChannels(createPayPublicClient(chain), {
        contract: chain.contract,
        account: privateKeyToAccount(chain.accounts[1]!.privateKey).address,
      })
    ).filter((c) => c.role === 'renter')

  it('a wrong input name, on a model the provider lists or one the renter would push', async () => {
    await assert.rejects(
      client.infer({ model: addModel(), inputs: { a: x(), wrong: x() }, maxPricePerSecond: 1000n }),
      InvalidInferenceInputError,
    )
    await assert.rejects(
      client.infer({ model: matmulModel(2), inputs: { a: x() }, maxPricePerSecond: 1000n }),
      InvalidInferenceInputError,
    )
    assert.deepEqual(await renterChannels(), [])
    assert.ok(!events.some((e) => e === 'lease:started' || e === 'failover' || e === 'channel:opened'), `${events}`)
  })

  it('a price ceiling below every offer says what the cheapest asks', async () => {
    await assert.rejects(
      client.infer({ model: addModel(), inputs: { a: x(), b: x() }, maxPricePerSecond: 10n }),
      (err: unknown) => err instanceof NoProviderError && err.cheapestPricePerSecond === 1000n,
    )
  })

  it('an account with nothing in it cannot fund a channel', async () => {
    const poor = await createClient({
      dataDir: join(dir, 'poor'),
      chain,
      account: privateKeyToAccount(generatePrivateKey()),
      bootstrap: provider.node.getMultiaddrs().map((a) => a.toString()),
    })
    try {
      await assert.rejects(
        poor.infer({ model: addModel(), inputs: { a: x(), b: x() }, maxPricePerSecond: 1000n }),
        InsufficientBalanceError,
      )
    } finally {
      await poor.close()
    }
  })

  it('an account without a chain, a chain without an account, and an RPC that does not answer', async () => {
    await assert.rejects(
      createClient({ dataDir: join(dir, 'x'), account: privateKeyToAccount(generatePrivateKey()) }),
      InvalidInputError,
    )
    const readOnly = await createClient({ dataDir: join(dir, 'read-only'), chain })
    try {
      await assert.rejects(
        readOnly.infer({ model: addModel(), inputs: { a: x(), b: x() }, maxPricePerSecond: 1000n }),
        PaymentNotConfiguredError,
      )
    } finally {
      await readOnly.close()
    }
    await assert.rejects(
      createClient({
        dataDir: join(dir, 'offline'),
        chain: { ...chain, rpcUrl: 'http://127.0.0.1:9' },
        account: privateKeyToAccount(generatePrivateKey()),
      }),
      ChainError,
    )
  })
})
