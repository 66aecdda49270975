import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { addModel } from '../compute/onnx-builder.js'
import { assertRenterMoney, type LoopingRenter, startLoopingRenter } from '../helpers/looping-renter.js'
import { type NatMarket, type NatMarketProvider, startNatMarket } from '../helpers/nat-market.js'
import { natLabSupport } from '../helpers/netns.js'

// A relay whose limits end every relayed connection after 4 s (a real relay's are 1 h and 1 GiB; the same code
// path): a renter behind a symmetric NAT keeps renting from a provider behind a cone NAT through it. Each reset ends
// the lease on that connection; the renter redials through the relay (a new relayed connection has fresh limits),
// leases again and is served on, and every lease's payment matches the provider's record and the chain.

const PRICE = 1_000_000_000_000n
const RELAY_DURATION_MS = 4_000
const RUN_MS = 14_000

describe('a relay limit ends relayed connections mid-lease', async () => {
  const support = await natLabSupport()
  const skip = support.ok ? false : `NAT lab unsupported here: ${support.reason}`
  let market: NatMarket
  let dir: string
  let renter: LoopingRenter | undefined

  before(async () => {
    if (!support.ok) return
    dir = await mkdtemp(join(tmpdir(), 'pb-nat-limits-'))
    const modelFile = join(dir, 'add.onnx')
    await writeFile(modelFile, addModel())
    market = await startNatMarket({
      lans: [
        { name: 'a', nat: 'cone' },
        { name: 'c', nat: 'symmetric' },
      ],
      providers: [{ host: 'a', price: PRICE }],
      renters: ['c'],
      modelFile,
      relayLimits: { durationMs: RELAY_DURATION_MS },
    })
  })

  after(async () => {
    renter?.child.kill('SIGKILL')
    await market?.close()
    if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  it('the renter redials through the relay, leases again and is served on; money adds up', { skip }, async (t) => {
    const provider = market.providers[0] as NatMarketProvider
    await market.relayedAddress(provider)
    renter = startLoopingRenter(market, 'c', {
      dataDir: market.renterDirs.c!,
      model: join(dir, 'add.onnx'),
      maxPricePerSecond: PRICE,
      everyMs: 200,
    })
    await renter.waitLine((l) => l.result != null, 0, 'a first result')
    await sleep(RUN_MS)
    const results = renter.lines.filter((l) => l.result != null)
    const errors = renter.lines.filter((l) => l.error != null)
    const leases = new Set(results.map((l) => l.result!.leaseId))
    t.diagnostic(
      `${results.length} results on ${leases.size} leases, ${errors.length} failed requests: ${JSON.stringify(errors.slice(0, 3))}`,
    )
    assert.ok(
      results.every((l) => l.result!.via?.includes('/p2p-circuit') !== false),
      'served over the relay',
    )
    // The relay cut the connection at least twice in the run: the renter leased again each time.
    assert.ok(leases.size >= 3, `only ${leases.size} leases in ${RUN_MS} ms`)
    // And it is still served at the end of the run, not shut out after the first reset.
    const tail = renter.lines.length
    await renter.waitLine((l) => l.result != null, tail, 'a result after the last reset')

    const summary = await renter.finish()
    renter = undefined
    await assertRenterMoney(market, 'c', summary, [provider], async (p) => {
      const run = await market.cli(p.host, ['channel', 'settle', '--force', '--json', '--data-dir', p.dataDir])
      assert.equal(run.code, 0, run.stderr)
    })
  })
})
