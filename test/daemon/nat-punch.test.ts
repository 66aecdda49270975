import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { INFER_PROTOCOL } from '../../src/compute/constants.js'
import { LEASE_PROTOCOL } from '../../src/lease/constants.js'
import { addModel } from '../compute/onnx-builder.js'
import { runCli } from '../helpers/cli.js'
import {
  assertRenterMoney,
  type LoopingRenter,
  type LoopingRenterLine,
  startLoopingRenter,
} from '../helpers/looping-renter.js'
import { type NatMarket, type NatMarketProvider, startNatMarket } from '../helpers/nat-market.js'
import { natLabSupport } from '../helpers/netns.js'

// Hole punching between two NATed nodes: a provider daemon behind a cone NAT (MASQUERADE, which keeps source ports)
// sells through a relay; a renter behind another cone NAT reaches it through the relay, the two punch a direct TCP
// connection (DCUtR with observed addresses, both dialling from their dial ports: src/net/hole-punch.ts), and the
// lease's streams run on it. A renter behind a symmetric NAT (a new port per connection) has no address to punch
// to: its lease stays relayed and is served all the same. The NATs drop unsolicited packets (a stealth router): the
// lab's links have no latency, so with a NAT that answers RST the first SYN is refused before the other side's SYN
// has left (docs/hole-punch.md).

const PRICE = 1_000_000_000_000n
const DIAL_PORT = 4003

describe('hole punching between NATed peers', async () => {
  const support = await natLabSupport()
  const skip = support.ok ? false : `NAT lab unsupported here: ${support.reason}`
  let market: NatMarket
  let dir: string
  let provider: NatMarketProvider
  let modelFile: string
  const renters: LoopingRenter[] = []

  before(async () => {
    if (!support.ok) return
    dir = await mkdtemp(join(tmpdir(), 'pb-nat-punch-'))
    modelFile = join(dir, 'add.onnx')
    await writeFile(modelFile, addModel())
    market = await startNatMarket({
      lans: [
        { name: 'a', nat: 'cone', unsolicited: 'drop' },
        { name: 'b', nat: 'cone', unsolicited: 'drop' },
        { name: 'c', nat: 'symmetric', unsolicited: 'drop' },
      ],
      providers: [{ host: 'a', price: PRICE, args: ['--dial-port', String(DIAL_PORT)] }],
      renters: ['b', 'c'],
      modelFile,
    })
    ;[provider] = market.providers as [NatMarketProvider]
    await market.relayedAddress(provider)
  })

  after(async () => {
    for (const renter of renters) renter.child.kill('SIGKILL')
    await market?.close()
    if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  const settle = async (p: NatMarketProvider) => {
    const run = await market.cli(p.host, ['channel', 'settle', '--force', '--json', '--data-dir', p.dataDir])
    assert.equal(run.code, 0, run.stderr)
  }

  /** A looping renter in `host`; its first result from the provider and how long that took from its start. */
  async function rent(host: string): Promise<{ renter: LoopingRenter; first: LoopingRenterLine; ms: number }> {
    const started = Date.now()
    const renter = startLoopingRenter(market, host, {
      dataDir: market.renterDirs[host]!,
      model: modelFile,
      maxPricePerSecond: PRICE,
      everyMs: 200,
    })
    renters.push(renter)
    const first = await renter.waitLine((l) => l.result?.provider === provider.peer, 0, `result in ${host}`)
    return { renter, first, ms: Date.now() - started }
  }

  it('behind two cone NATs the relayed connection is punched to a direct one and the lease runs on it', {
    skip,
  }, async (t) => {
    const { renter, first, ms } = await rent('b')
    const direct = (l: LoopingRenterLine) =>
      l.result?.connections?.find(
        (c) => !c.relayed && c.protocols.includes(INFER_PROTOCOL) && c.protocols.includes(LEASE_PROTOCOL),
      )
    const served = await renter.waitLine((l) => direct(l) != null, 0, 'a result with the lease on a direct connection')
    const connection = direct(served)!
    // The direct connection goes to the provider's NAT, at the dial port (which MASQUERADE kept).
    assert.ok(connection.addr.startsWith(`/ip4/${market.lab.publicAddress('a')}/tcp/${DIAL_PORT}/`), connection.addr)
    const status = JSON.parse((await runCli(['status', '--json', '--data-dir', provider.dataDir])).stdout)
    assert.deepEqual(status.holePunch.observedAddresses, [`/ip4/${market.lab.publicAddress('a')}/tcp/${DIAL_PORT}`])
    assert.ok(status.holePunch.upgraded >= 1, JSON.stringify(status.holePunch))
    t.diagnostic(
      `first paid result after ${ms} ms; first result ${first.result!.connections!.some((c) => !c.relayed && c.protocols.includes(INFER_PROTOCOL)) ? 'already' : 'not yet'} direct; direct connection ${connection.addr}`,
    )
    // With its streams on the direct connection, the relayed one is closed: it would hold a slot at the relay.
    await renter.waitLine(
      (l) => l.result?.connections?.length === 1 && l.result.connections[0]!.relayed === false,
      0,
      'a result with the relayed connection closed',
    )
    const summary = await renter.finish()
    assert.ok(summary.leases.length >= 1)
    await assertRenterMoney(market, 'b', summary, [provider], settle)
  })

  it('behind a symmetric NAT nothing is punched: the lease stays relayed and is served', { skip }, async (t) => {
    const { renter, ms } = await rent('c')
    const from = renter.lines.length
    await renter.waitLine((l) => l.result != null, from + 4, 'five more results')
    const results = renter.lines.filter((l) => l.result?.provider === provider.peer)
    for (const line of results) {
      assert.ok(
        line.result!.connections!.every((c) => c.relayed),
        JSON.stringify(line.result!.connections),
      )
    }
    t.diagnostic(`first paid result after ${ms} ms; ${results.length} results, all relayed`)
    const status = JSON.parse((await runCli(['status', '--json', '--data-dir', provider.dataDir])).stdout)
    t.diagnostic(`provider's hole punches: ${JSON.stringify(status.holePunch)}`)
    const summary = await renter.finish()
    await assertRenterMoney(market, 'c', summary, [provider], settle)
  })
})
