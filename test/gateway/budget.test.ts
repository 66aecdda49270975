import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { KeyStore } from '../../src/gateway/index.js'
import { getChannel } from '../../src/pay/actions/get-channel.js'
import { createPayPublicClient } from '../../src/pay/clients.js'
import { identityModel } from '../compute/onnx-builder.js'
import { type GatewayWorld, jsonOf, postInfer, startGatewayWorld, waitUntil } from './fixture.js'

const PRICE = 1000n
const request = { json: { inputs: [{ name: 'x_float32', datatype: 'FP32', shape: [2], data: [1, 2] }] } }

describe('gateway budgets: 402 over a cap, spend from what was paid, on-chain no more than cap + one tick', () => {
  let world: GatewayWorld
  let keys: KeyStore

  before(async () => {
    world = await startGatewayWorld({ models: { f32: identityModel(['float32']) }, price: PRICE })
    keys = world.gateway.keys
  })

  after(async () => {
    await world?.stop()
  })

  /** Every lease ended and its payments taken in: nothing more is being paid. */
  async function quiet(): Promise<void> {
    await world.gateway.client.endLeases()
    await waitUntil(() => world.gateway.client.activeLeases().length === 0)
  }

  async function settledOnChain(): Promise<bigint> {
    const [channelId] = await world.gateway.client.channelIds()
    await world.provider.settler!.settle(channelId!, { force: true })
    const publicClient = createPayPublicClient(world.chain)
    return (await getChannel(publicClient, { contract: world.chain.contract, channelId: channelId! })).settled
  }

  async function spentByAllKeys(): Promise<bigint> {
    return (await keys.list()).reduce((sum, k) => sum + k.spend.total, 0n)
  }

  it('a per-hour cap answers 402 naming the cap and when it resets', async () => {
    // Both requests in one UTC hour: a run a few seconds before the hour waits for it.
    const toHour = 3_600_000 - (Date.now() % 3_600_000)
    if (toHour < 10_000) await new Promise((r) => setTimeout(r, toHour + 100))
    const { token } = await keys.create('hourly', { maxPricePerSecond: PRICE, maxPerHour: 1500n })
    const first = await postInfer(world.http.url, 'f32', request, token)
    assert.equal(first.status, 200, await first.clone().text())
    // The first request took a lease: its prepaid tick (1000) is this key's, so a second reservation does not fit.
    const second = await postInfer(world.http.url, 'f32', request, token)
    assert.equal(second.status, 402)
    const body = await jsonOf(second)
    assert.equal(body.code, 'BUDGET_EXCEEDED')
    assert.equal(body.cap, 'per-hour')
    assert.equal(body.limit_wei, '1500')
    const hourEnd = Math.ceil((Date.now() + 1) / 3_600_000) * 3_600_000
    assert.equal(Date.parse(body.resets_at), hourEnd)
    await quiet()
  })

  it('a total cap: requests run until 402, then spending stops; the chain shows at most the cap plus one tick', async () => {
    const cap = 3n * PRICE
    const { token, record } = await keys.create('capped', { maxPricePerSecond: PRICE, maxTotal: cap })
    let refused: Response | undefined
    let served = 0
    for (let i = 0; i < 400 && refused == null; i++) {
      const res = await postInfer(world.http.url, 'f32', request, token)
      if (res.status === 402) refused = res
      else {
        assert.equal(res.status, 200, await res.text())
        served++
        await new Promise((r) => setTimeout(r, 20))
      }
    }
    assert.ok(refused != null, 'the cap was reached')
    assert.ok(served > 0)
    const body = await jsonOf(refused)
    assert.equal(body.cap, 'total')
    assert.equal(body.resets_at, null)
    // The idle lease this key would pay for is ended by the gateway itself.
    await waitUntil(() => world.gateway.client.activeLeases().length === 0)
    const spent = keys.spendOf(record.id).total
    assert.ok(spent <= cap + PRICE, `${spent} <= cap + one tick`)
    const settled = await settledOnChain()
    // Every wei the renter paid is some key's: the chain and the keys agree.
    assert.equal(settled, await spentByAllKeys())
    await new Promise((r) => setTimeout(r, 1_200))
    assert.equal(world.gateway.client.activeLeases().length, 0, 'nothing is paid after the refusal')
    assert.equal(keys.spendOf(record.id).total, spent)
    assert.equal((await postInfer(world.http.url, 'f32', request, token)).status, 402)
  })

  it('concurrent requests from several keys are each charged, and the charges add up to what was paid', async () => {
    const tokens = await Promise.all(
      ['a', 'b', 'c'].map(async (n) => (await keys.create(`conc-${n}`, { maxPricePerSecond: PRICE })).token),
    )
    const before = await spentByAllKeys()
    const results = await Promise.all(
      tokens.flatMap((t) => Array.from({ length: 4 }, () => postInfer(world.http.url, 'f32', request, t))),
    )
    for (const r of results) assert.equal(r.status, 200, await r.clone().text())
    const costs = await Promise.all(results.map(async (r) => BigInt((await jsonOf(r)).parameters.parkbench_cost_wei)))
    const charged = costs.reduce((a, b) => a + b, 0n)
    assert.ok(charged > 0n)
    await quiet()
    assert.equal(world.gateway.unattributedWei(), 0n)
    const spentNow = await spentByAllKeys()
    // Requests' reported costs are part of what the keys were charged (the rest: idle seconds after them).
    assert.ok(spentNow - before >= charged)
    assert.equal(await settledOnChain(), spentNow)
  })

  it('spend survives a restart of the gateway', async () => {
    await world.closeGateway()
    const listed = await keys.list()
    const reopened = await KeyStore.open(join(world.dir, 'renter'))
    for (const k of listed) assert.equal(reopened.spendOf(k.id).total, k.spend.total, k.name)
  })
})
