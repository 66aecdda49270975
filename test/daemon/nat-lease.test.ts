import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ReachabilityStatus } from '../../src/net/reachability.js'
import { addModel } from '../compute/onnx-builder.js'
import { runCli } from '../helpers/cli.js'
import { assertRenterMoney, type LoopingRenter, startLoopingRenter } from '../helpers/looping-renter.js'
import { type NatMarket, type NatMarketProvider, startNatMarket } from '../helpers/nat-market.js'
import { natLabSupport } from '../helpers/netns.js'

// A market behind real NATs: the lab's internet has a relay (a `parkbench start --relay-server` that sells nothing,
// also the bootstrap peer) and a dev chain; one provider daemon sits behind a home router's NAT (cone), another
// behind a carrier-grade NAT and a home router in a row; the renter is behind a symmetric NAT. None can dial
// another. The providers learn they are private, reserve relayed addresses, and sell through them: the renter finds
// them on the DHT, leases, pays per second and gets its result; each provider settles on-chain what the renter paid,
// to the wei.

const PRICE = 1_000_000_000_000n // 1,000 gwei a second: a settlement pays for its gas
const peerOf = (addr: string): string => addr.slice(addr.lastIndexOf('/p2p/') + 5)

describe('leases across NATs, through a relay', async () => {
  const support = await natLabSupport()
  const skip = support.ok ? false : `NAT lab unsupported here: ${support.reason}`
  let market: NatMarket
  let dir: string
  let home: NatMarketProvider
  let carrier: NatMarketProvider
  let modelFile: string
  let inputFile: string
  let renter: LoopingRenter | undefined

  before(async () => {
    if (!support.ok) return
    dir = await mkdtemp(join(tmpdir(), 'pb-nat-lease-'))
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
    market = await startNatMarket({
      lans: [
        { name: 'a', nat: 'cone' },
        { name: 'c', nat: 'symmetric' },
        { name: 'd', doubleNat: true },
      ],
      // The one behind two NATs is dearer, so that a renter at PRICE leases only 'a'.
      providers: [
        { host: 'a', price: PRICE },
        { host: 'd', price: 2n * PRICE },
      ],
      renters: ['c'],
      modelFile,
      relays: 3,
    })
    ;[home, carrier] = market.providers as [NatMarketProvider, NatMarketProvider]
  })

  after(async () => {
    renter?.child.kill('SIGKILL')
    await market?.close()
    if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  /** The provider's reachability from its control socket, once `ready` holds of it (bounded). */
  async function reachOf(provider: NatMarketProvider, ready: (reach: ReachabilityStatus) => boolean) {
    let reach: ReachabilityStatus | undefined
    for (let i = 0; i < 300; i++) {
      reach = JSON.parse((await runCli(['status', '--json', '--data-dir', provider.dataDir])).stdout).reach
      if (reach != null && ready(reach)) return reach
      await sleep(200)
    }
    assert.fail(`reachability never became as expected: ${JSON.stringify(reach)}`)
  }

  /** `parkbench infer` of the add model as the renter in 'c', with `target` (--bootstrap or --peer ADDR). */
  const infer = (target: string[], maxPrice: bigint) =>
    market.cli('c', [
      'infer',
      ...target,
      '--model',
      modelFile,
      '--input',
      inputFile,
      '--max-price',
      String(maxPrice),
      '--json',
      '--data-dir',
      market.renterDirs.c!,
    ])

  /** `parkbench channel settle --force --json` for a provider, in its host (the daemon does it); its report. */
  async function settle(provider: NatMarketProvider): Promise<{ settled: Array<{ paid: string }> }> {
    const run = await market.cli(provider.host, [
      'channel',
      'settle',
      '--force',
      '--json',
      '--data-dir',
      provider.dataDir,
    ])
    assert.equal(run.code, 0, run.stderr)
    return JSON.parse(run.stdout)
  }

  /** The provider settles (asked through its control socket); the renter's channel shows it settled on-chain. */
  async function assertSettled(
    provider: NatMarketProvider,
    result: { lease: { amountPaid: string; channelId: string } },
  ) {
    const paid = BigInt(result.lease.amountPaid)
    const report = await settle(provider)
    assert.equal(report.settled.length, 1, JSON.stringify(report))
    assert.equal(BigInt(report.settled[0].paid), paid)
    const status = await market.cli('c', ['channel', 'status', '--json', '--data-dir', market.renterDirs.c!])
    const channel = JSON.parse(status.stdout).channels.find(
      (c: { channelId: string }) => c.channelId === result.lease.channelId,
    )
    assert.equal(BigInt(channel.settled), paid)
    assert.equal(BigInt(channel.paidOffChain), paid)
  }

  it('the provider behind a NAT says it is private and reserves relayed addresses on two of the three relays', {
    skip,
  }, async () => {
    const status = await reachOf(home, (reach) => reach.relays.length === 2)
    assert.equal(status.reachability, 'private')
    const relayIds = market.relays.map((r) => peerOf(r.addr))
    assert.ok(
      status.relays.every((r) => relayIds.includes(r)),
      JSON.stringify(status),
    )
    assert.equal(status.relayedAddresses.length, 2)
    const relayed = status.relayedAddresses[0]!
    assert.ok(relayed.endsWith(`/p2p-circuit/p2p/${home.peer}`), relayed)
    assert.deepEqual(status.publicAddresses, [])
    const text = await runCli(['status', '--data-dir', home.dataDir])
    assert.match(text.stdout, /reachability: private/)
    assert.ok(text.stdout.includes(`relayed address ${relayed}`), text.stdout)
    // The relay announces its public address.
    const relayStatus = JSON.parse((await runCli(['status', '--json', '--data-dir', market.relayDir])).stdout)
    assert.equal(relayStatus.reach.reachability, 'public', JSON.stringify(relayStatus.reach))
  })

  it('a renter behind a symmetric NAT finds it, leases, pays and gets the result; the chain settles what it paid', {
    skip,
  }, async (t) => {
    const run = await infer(['--bootstrap', market.relayAddr], PRICE)
    assert.equal(run.code, 0, run.stderr)
    const result = JSON.parse(run.stdout)
    assert.equal(result.paid, true)
    assert.equal(result.provider, home.peer)
    assert.deepEqual(result.outputs.y.data, [11, 12, 13, 14, 15, 16])
    assert.ok(BigInt(result.lease.amountPaid) >= PRICE, 'at least the prepaid tick')
    t.diagnostic(`paid ${result.lease.amountPaid} wei for the lease over the relay`)
    await assertSettled(home, result)
  })

  it('a provider behind two NATs in a row (carrier-grade and home) sells through the relay too', { skip }, async () => {
    // Asked by its relayed address: the renter leases this provider only.
    const run = await infer(['--peer', await market.relayedAddress(carrier)], 2n * PRICE)
    assert.equal(run.code, 0, run.stderr)
    const result = JSON.parse(run.stdout)
    assert.equal(result.provider, carrier.peer)
    assert.deepEqual(result.outputs.y.data, [11, 12, 13, 14, 15, 16])
    await assertSettled(carrier, result)
  })

  it('a relay dies mid-lease: the renter fails over and is served on, the provider re-reserves on the third relay, money adds up', {
    skip,
  }, async (t) => {
    renter = startLoopingRenter(market, 'c', {
      dataDir: market.renterDirs.c!,
      model: modelFile,
      maxPricePerSecond: 2n * PRICE,
      everyMs: 250,
    })
    const { lines, waitLine } = renter
    const first = await waitLine((l) => l.result?.provider === home.peer, 0, 'result from the home provider')
    const via = first.result!.via!
    assert.ok(via.includes('/p2p-circuit'), via)
    const carrying = market.relays.find((r) => via.startsWith(r.addr))!
    assert.ok(carrying != null, `${via} is through none of the relays`)
    await carrying.daemon.stop('SIGKILL')
    const killedAt = lines.length
    const after = await waitLine((l) => l.result != null, killedAt, 'result after the relay died')
    t.diagnostic(
      `relay ${carrying.host} killed; next result from ${after.result!.provider === home.peer ? 'the same provider' : 'the other provider'} via ${after.result!.via}, after ${lines.slice(killedAt).filter((l) => l.error != null).length} failed requests`,
    )
    // The provider drops the dead relay and reserves on the one it did not use.
    const reach = await reachOf(home, (r) => r.relays.length === 2 && !r.relays.includes(peerOf(carrying.addr)))
    assert.equal(reach.relayedAddresses.length, 2)

    const summary = await renter.finish()
    renter = undefined
    assert.ok(summary.leases.length >= 2, JSON.stringify(summary))
    await assertRenterMoney(market, 'c', summary, [home, carrier], settle)
  })
})
