import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Tensor } from 'onnxruntime-node'
import { privateKeyToAccount } from 'viem/accounts'
import { getBalance } from 'viem/actions'
import { createClient, type RenterClient } from '../../src/client/index.js'
import { resolveConfig } from '../../src/daemon/config.js'
import { createDaemon, type Daemon } from '../../src/daemon/daemon.js'
import { findOffers } from '../../src/market/discover.js'
import { waitForDhtPeers } from '../../src/net/dht-ready.js'
import { getChannel } from '../../src/pay/actions/get-channel.js'
import { createPayPublicClient } from '../../src/pay/clients.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { addModel } from '../compute/onnx-builder.js'
import { type LongRunning, runCli, startProviderCli, writeChainFile } from '../helpers/cli.js'
import { assertMoneyConserved } from '../helpers/money.js'

const inputs = () => ({
  a: new Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]),
  b: new Tensor('float32', Float32Array.from([1, 1, 1, 1, 1, 1]), [2, 3]),
})

describe('client.infer against provider daemons (discovery, channel, lease, failover, settlement)', () => {
  let chain: DevChain
  let chainFile: string
  let client: RenterClient
  let dear: Daemon
  let cheap: LongRunning
  let cheapDir: string
  let cheapId: string
  const model = addModel()

  before(async () => {
    chain = await startDevChain()
    const dir = await mkdtemp(join(tmpdir(), 'pb-client-'))
    chainFile = await writeChainFile(chain, dir)
    // The dearer provider runs in this process; the cheap one in its own, so that it can be killed -9.
    const dataDir = join(dir, 'dear')
    dear = createDaemon({
      config: resolveConfig(dataDir, {
        listen: ['/ip4/127.0.0.1/tcp/0'],
        offer: { pricePerSecond: '2000', threads: 2, maxLeaseSeconds: 60 },
      }),
      chain,
      account: privateKeyToAccount(chain.accounts[2]!.privateKey),
    })
    await dear.start()
    await dear.compute.store.add(model, { name: 'add.onnx' })
    await dear.syncModels()
    const hub = dear.node.getMultiaddrs().map((a) => a.toString())

    cheapDir = join(dir, 'cheap')
    const modelFile = join(dir, 'add.onnx')
    await writeFile(modelFile, model)
    ;({ provider: cheap, peerId: cheapId } = await startProviderCli({
      dataDir: cheapDir,
      chainFile,
      privateKey: chain.accounts[3]!.privateKey,
      price: 1000n,
      modelFile,
      flags: hub.flatMap((a) => ['--bootstrap', a]),
    }))
    client = await createClient({
      dataDir: join(dir, 'renter'),
      chain,
      account: privateKeyToAccount(chain.accounts[1]!.privateKey),
      bootstrap: hub,
      leaseSeconds: 30,
      idleMs: 60_000,
    })
    // Ready once both providers' records are in the DHT.
    await waitForDhtPeers(client.node, 1, { signal: AbortSignal.timeout(10_000) })
    const deadline = Date.now() + 20_000
    while ((await findOffers({ node: client.node }, { timeoutMs: 2_000 })).length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200))
    }
  })

  after(async () => {
    await client?.close()
    await cheap?.stop('SIGKILL')
    await dear?.stop()
    await chain?.stop()
  })

  it('leases the cheapest provider, fails over when it is killed -9, and pays only for what was served', async () => {
    const dearId = dear.node.peerId.toString()
    const first = await client.infer({ model, inputs: inputs(), maxPricePerSecond: 5_000n })
    assert.equal(first.providerPeer, cheapId, 'the cheaper provider is leased first')
    assert.deepEqual(Array.from(first.outputs.y!.data as Float32Array), [2, 3, 4, 5, 6, 7])
    await new Promise((r) => setTimeout(r, 1_500))

    // The cheap provider crashes mid-lease.
    await cheap.stop('SIGKILL')
    const second = await client.infer({ model, inputs: inputs(), maxPricePerSecond: 5_000n })
    assert.equal(second.providerPeer, dearId)
    await new Promise((r) => setTimeout(r, 1_200))
    await client.close()

    const history = client.leaseHistory()
    const onDear = history.filter((s) => s.providerPeer === dearId)
    const onCheap = history.filter((s) => s.providerPeer === cheapId)
    assert.equal(onCheap.length, 1)
    assert.equal(onDear.length, 1)
    assert.equal(onCheap[0]!.endReason, 'PROVIDER_UNRESPONSIVE')
    // The renter paid the dead provider for at most one tick it never acknowledged.
    const lost = onCheap[0]!
    assert.ok(lost.ticksSent - lost.ticksAcknowledged <= 1)

    // The killed provider's durable store still has what it accepted: settled from its data dir, it is between
    // the ticks it acknowledged and the ticks the renter sent.
    // At these test prices a settlement costs more gas than it pays: --force settles it anyway.
    const settle = await runCli([
      'channel',
      'settle',
      '--force',
      '--json',
      '--data-dir',
      cheapDir,
      '--chain',
      chainFile,
      '--private-key',
      chain.accounts[3]!.privateKey,
    ])
    assert.equal(settle.code, 0, settle.stderr)
    const [cheapSettled] = JSON.parse(settle.stdout).settled as Array<{ paid: string }>
    const paidToCheap = BigInt(cheapSettled!.paid)
    assert.ok(paidToCheap >= BigInt(lost.ticksAcknowledged) * 1_000n, `${paidToCheap}`)
    assert.ok(paidToCheap <= lost.amountPaid, `${paidToCheap} <= ${lost.amountPaid}`)

    // The surviving provider settles what it accepted; its balance grows by exactly that (minus gas).
    const receiver = dear.receiver!
    const channelId = onDear[0]!.channelId
    const accepted = receiver.channelTotal(channelId)
    assert.equal(accepted, onDear[0]!.amountPaid)
    const publicClient = createPayPublicClient(chain)
    const payout = privateKeyToAccount(chain.accounts[2]!.privateKey).address
    const before = await getBalance(publicClient, { address: payout })
    const [settled] = await dear.settler!.settle(channelId, { force: true })
    assert.equal(settled!.paid, accepted)
    const afterBalance = await getBalance(publicClient, { address: payout })
    const receipt = await publicClient.getTransactionReceipt({ hash: settled!.transactionHash })
    assert.equal(afterBalance - before, accepted - receipt.gasUsed * receipt.effectiveGasPrice)

    // On-chain, the renter spent exactly what both providers settled.
    const channels = [lost.channelId, channelId]
    const spent = await Promise.all(
      channels.map(async (id) => (await getChannel(publicClient, { contract: chain.contract, channelId: id })).settled),
    )
    assert.equal(spent[0]! + spent[1]!, paidToCheap + accepted)
    // The surviving provider's channel balances to the wei after its settlement.
    await assertMoneyConserved({
      client: publicClient,
      contract: chain.contract,
      channels: [{ channelId, authorised: onDear[0]!.amountPaid, acknowledged: accepted, finalSettlement: true }],
    })
  })
})
