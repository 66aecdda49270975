import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { addModel } from '../compute/onnx-builder.js'
import { type LongRunning, PARKBENCH_BIN, runCli, startCli } from '../helpers/cli.js'
import { createNatLab, type NatLab, natLabSupport } from '../helpers/netns.js'

// A market behind real NATs: the lab's internet has a relay (a `parkbench start --relay-server` that sells nothing,
// also the bootstrap peer) and a dev chain; a provider daemon sits behind a home router's NAT (cone), a renter
// behind a symmetric NAT. Neither can dial the other. The provider learns it is private, reserves a relayed address,
// and sells through it: the renter finds it on the DHT, leases, pays per second and gets its result; the provider
// settles on-chain what the renter paid, to the wei.

const RELAY_PORT = 4001
const PROVIDER_PORT = 4002
const CHAIN_PORT = 8545
const PRICE = 1_000_000_000_000n // 1,000 gwei a second: a settlement pays for its gas
const STEP_TIMEOUT_MS = 60_000

describe('leases across NATs, through a relay', async () => {
  const support = await natLabSupport()
  const skip = support.ok ? false : `NAT lab unsupported here: ${support.reason}`
  let lab: NatLab
  let dir: string
  let chain: LongRunning
  let relay: LongRunning
  let provider: LongRunning
  let cgnProvider: LongRunning
  let cgnPeer: string
  let relayAddr: string
  let providerPeer: string
  let modelFile: string
  let inputFile: string
  const dirs = { chain: '', relay: '', provider: '', cgn: '', renter: '' }

  /** `parkbench ARGS` run to its end inside a lab host; never rejects on a non-zero exit. */
  const cli = (host: string, args: string[]) =>
    lab.exec(host, [process.execPath, PARKBENCH_BIN, ...args], { timeoutMs: STEP_TIMEOUT_MS })

  before(async () => {
    if (!support.ok) return
    dir = await mkdtemp(join(tmpdir(), 'pb-nat-lease-'))
    for (const name of Object.keys(dirs) as Array<keyof typeof dirs>) dirs[name] = join(dir, name)
    lab = await createNatLab({
      publicInternet: true,
      publicHosts: ['relay', 'chain'],
      lans: [
        { name: 'a', nat: 'cone' },
        { name: 'c', nat: 'symmetric' },
        { name: 'd', doubleNat: true },
      ],
    })
    const spawnIn = (host: string) => (argv: string[], options: import('node:child_process').SpawnOptions) =>
      lab.spawn(host, argv, options)
    // The chain on the lab's internet; it funds the provider's and renter's keys and saves chain.json in their dirs.
    chain = startCli(
      [
        'chain',
        '--data-dir',
        dirs.chain,
        '--host',
        lab.address('chain'),
        '--port',
        String(CHAIN_PORT),
        '--fund-data-dir',
        dirs.provider,
        '--fund-data-dir',
        dirs.cgn,
        '--fund-data-dir',
        dirs.renter,
        '--json',
      ],
      { spawn: spawnIn('chain') },
    )
    await chain.waitFor(/"configFiles"/, STEP_TIMEOUT_MS)
    relay = startCli(
      [
        'start',
        '--data-dir',
        dirs.relay,
        '--no-sell',
        '--relay-server',
        '--listen',
        `/ip4/${lab.address('relay')}/tcp/${RELAY_PORT}`,
        '--announce',
        `/ip4/${lab.address('relay')}/tcp/${RELAY_PORT}`,
        '--json',
      ],
      { spawn: spawnIn('relay') },
    )
    const relayPeer = (await relay.waitFor(/"peerId":"([^"]+)"/, STEP_TIMEOUT_MS))[1]!
    relayAddr = `/ip4/${lab.address('relay')}/tcp/${RELAY_PORT}/p2p/${relayPeer}`

    modelFile = join(dir, 'add.onnx')
    await writeFile(modelFile, addModel())
    inputFile = join(dir, 'input.json')
    await writeFile(
      inputFile,
      JSON.stringify({
        a: { dtype: 'float32', dims: [2, 3], data: [1, 2, 3, 4, 5, 6] },
        b: { dtype: 'float32', dims: [2, 3], data: [10, 10, 10, 10, 10, 10] },
      }),
    )
    const startProvider = async (
      host: string,
      dataDir: string,
      price: bigint,
    ): Promise<{ daemon: LongRunning; peer: string }> => {
      const added = await runCli(['model', 'add', modelFile, '--data-dir', dataDir])
      assert.equal(added.code, 0, added.stderr)
      const daemon = startCli(
        [
          'start',
          '--data-dir',
          dataDir,
          '--listen',
          `/ip4/0.0.0.0/tcp/${PROVIDER_PORT}`,
          '--bootstrap',
          relayAddr,
          '--price',
          String(price),
          '--json',
        ],
        { spawn: spawnIn(host) },
      )
      return { daemon, peer: (await daemon.waitFor(/"peerId":"([^"]+)"/, STEP_TIMEOUT_MS))[1]! }
    }
    ;({ daemon: provider, peer: providerPeer } = await startProvider('a', dirs.provider, PRICE))
    // Behind a carrier-grade NAT and a home router's, in a row; dearer, so that a renter at PRICE leases only 'a'.
    ;({ daemon: cgnProvider, peer: cgnPeer } = await startProvider('d', dirs.cgn, 2n * PRICE))
  })

  after(async () => {
    await provider?.stop()
    await cgnProvider?.stop()
    await relay?.stop()
    await chain?.stop()
    await lab?.close()
    if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  it('the provider behind a NAT says it is private and reserves a relayed address on the relay', { skip }, async () => {
    const relayed = `${relayAddr}/p2p-circuit/p2p/${providerPeer}`
    await provider.waitFor(new RegExp(`"relayedAddresses":\\[[^\\]]*"${relayed}"`), STEP_TIMEOUT_MS)
    const status = JSON.parse((await runCli(['status', '--json', '--data-dir', dirs.provider])).stdout)
    assert.equal(status.reach.reachability, 'private')
    assert.deepEqual(status.reach.relays, [relayAddr.split('/p2p/')[1]])
    assert.ok(status.reach.relayedAddresses.includes(relayed), JSON.stringify(status.reach))
    assert.deepEqual(status.reach.publicAddresses, [])
    const text = await runCli(['status', '--data-dir', dirs.provider])
    assert.match(text.stdout, /reachability: private/)
    assert.ok(text.stdout.includes(`relayed address ${relayed}`), text.stdout)
    // The relay announces its public address.
    const relayStatus = JSON.parse((await runCli(['status', '--json', '--data-dir', dirs.relay])).stdout)
    assert.equal(relayStatus.reach.reachability, 'public', JSON.stringify(relayStatus.reach))
  })

  it('a renter behind a symmetric NAT finds it, leases, pays and gets the result; the chain settles what it paid', {
    skip,
  }, async (t) => {
    const run = await cli('c', [
      'infer',
      '--bootstrap',
      relayAddr,
      '--model',
      modelFile,
      '--input',
      inputFile,
      '--max-price',
      String(PRICE),
      '--json',
      '--data-dir',
      dirs.renter,
    ])
    assert.equal(run.code, 0, run.stderr)
    const result = JSON.parse(run.stdout)
    assert.equal(result.paid, true)
    assert.equal(result.provider, providerPeer)
    assert.deepEqual(result.outputs.y.data, [11, 12, 13, 14, 15, 16])
    const paid = BigInt(result.lease.amountPaid)
    assert.ok(paid >= PRICE, 'at least the prepaid tick')
    t.diagnostic(`paid ${paid} wei for the lease over the relay`)

    // The provider acknowledged the same amount, and settles it on-chain (asked through its control socket).
    const settled = await cli('a', ['channel', 'settle', '--force', '--json', '--data-dir', dirs.provider])
    assert.equal(settled.code, 0, settled.stderr)
    const report = JSON.parse(settled.stdout)
    assert.equal(report.settled.length, 1, settled.stdout)
    assert.equal(BigInt(report.settled[0].paid), paid)
    // The renter's view from the chain: settled = paid off-chain = what infer reported.
    const channels = JSON.parse((await cli('c', ['channel', 'status', '--json', '--data-dir', dirs.renter])).stdout)
    assert.equal(channels.channels.length, 1)
    assert.equal(BigInt(channels.channels[0].settled), paid)
    assert.equal(BigInt(channels.channels[0].paidOffChain), paid)
  })

  it('a provider behind two NATs in a row (carrier-grade and home) sells through the relay too', { skip }, async () => {
    const relayed = `${relayAddr}/p2p-circuit/p2p/${cgnPeer}`
    await cgnProvider.waitFor(new RegExp(`"relayedAddresses":\\[[^\\]]*"${relayed}"`), STEP_TIMEOUT_MS)
    // Asked by its relayed address: the renter leases this provider only.
    const run = await cli('c', [
      'infer',
      '--peer',
      relayed,
      '--model',
      modelFile,
      '--input',
      inputFile,
      '--max-price',
      String(2n * PRICE),
      '--json',
      '--data-dir',
      dirs.renter,
    ])
    assert.equal(run.code, 0, run.stderr)
    const result = JSON.parse(run.stdout)
    assert.equal(result.provider, cgnPeer)
    assert.deepEqual(result.outputs.y.data, [11, 12, 13, 14, 15, 16])
    const paid = BigInt(result.lease.amountPaid)
    const settled = await cli('d', ['channel', 'settle', '--force', '--json', '--data-dir', dirs.cgn])
    assert.equal(settled.code, 0, settled.stderr)
    assert.equal(BigInt(JSON.parse(settled.stdout).settled[0].paid), paid)
    const channels = JSON.parse((await cli('c', ['channel', 'status', '--json', '--data-dir', dirs.renter])).stdout)
    const channel = channels.channels.find((c: { channelId: string }) => c.channelId === result.lease.channelId)
    assert.equal(BigInt(channel.settled), paid)
    assert.equal(BigInt(channel.paidOffChain), paid)
  })
})
