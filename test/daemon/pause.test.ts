import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { RenterClient } from '../../src/client/index.js'
import { fetchOffer } from '../../src/market/discover.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import {
  type ConsoleDaemon,
  consoleFetch,
  inputs,
  MODEL,
  PRICE,
  startConsoleDaemon,
  startRenterClient,
  waitFor,
} from './console-fixture.js'

describe('pausing and resuming selling from the owner console', () => {
  let chain: DevChain
  let provider: ConsoleDaemon
  let renter: RenterClient

  before(async () => {
    chain = await startDevChain()
    provider = await startConsoleDaemon(chain)
    renter = await startRenterClient(chain, 1)
  })

  after(async () => {
    await renter?.close()
    await provider?.daemon.stop()
    await chain?.stop()
  })

  it('ends a running lease PROVIDER_PAUSED, charged only for served seconds; withdraws the offer; resume sells again', async () => {
    const { daemon, url, token, address } = provider
    const lease = await renter.lease({ model: MODEL, maxPricePerSecond: PRICE, provider: address })
    const result = await lease.infer({ inputs: inputs() })
    assert.deepEqual(Array.from(result.outputs.y!.data as Float32Array), [2, 3, 4, 5, 6, 7])
    const sold = () => daemon.leaseList().find((l) => l.leaseId === lease.leaseId)
    await waitFor(() => (sold()?.ticksPaid ?? 0) >= 3, 'three paid ticks')

    const paused = await consoleFetch(url, '/api/v1/pause', { token, method: 'POST', body: {} })
    assert.equal(paused.status, 200)
    // The renter is told why, in the lease's ENDED message.
    const summary = await lease.ended
    assert.equal(summary.endReason, 'PROVIDER_PAUSED')
    const record = sold()!
    assert.equal(record.endReason, 'PROVIDER_PAUSED')
    assert.equal(record.state, 'ended')

    // Paid to the last served second: the renter sent exactly the ticks the provider accepted, the prepaid one
    // included (it covers the second that was being served), and nothing after the end.
    assert.equal(summary.ticksSent, record.ticksPaid)
    assert.equal(summary.ticksAcknowledged, record.ticksPaid)
    assert.equal(summary.amountPaid, record.amountPaid)
    assert.equal(record.amountPaid, PRICE * BigInt(record.ticksPaid))
    const servedMs = record.endedAt! - record.startedAt
    assert.ok(record.ticksPaid <= Math.ceil(servedMs / 1000) + 1, `${record.ticksPaid} ticks for ${servedMs} ms`)
    // The durable payment store holds exactly that much for the channel (its first lease).
    assert.equal(daemon.receiver!.channelTotal(record.channelId), record.amountPaid)

    // The offer is withdrawn and the console says so.
    await assert.rejects(fetchOffer({ node: renter.node }, address), { name: 'NoOfferError' })
    const state = await consoleFetch(url, '/api/v1/state', { token })
    assert.equal(state.json.selling.state, 'paused')
    assert.equal(state.json.selling.paused.by, 'owner')
    assert.equal(state.json.selling.advertised, null)
    assert.equal(state.json.leases.active.length, 0)
    assert.equal(state.json.leases.recent[0].endReason, 'PROVIDER_PAUSED')
    await assert.rejects(renter.lease({ model: MODEL, maxPricePerSecond: PRICE, provider: address }))
    // The model rescan must not bring the offer back while paused.
    await daemon.syncModels({ force: true })
    assert.equal((await daemon.status()).selling, false)

    // A new price while paused is kept for when selling resumes.
    const price = await consoleFetch(url, '/api/v1/price', {
      token,
      method: 'POST',
      body: { pricePerSecond: '2000000000' },
    })
    assert.equal(price.status, 200)
    const resumed = await consoleFetch(url, '/api/v1/resume', { token, method: 'POST', body: {} })
    assert.equal(resumed.status, 200)
    const offer = await fetchOffer({ node: renter.node }, address)
    assert.equal(offer.offer.pricePerSecond, 2_000_000_000n)
    const again = await renter.lease({ model: MODEL, maxPricePerSecond: 2n * PRICE, provider: address })
    await again.infer({ inputs: inputs() })

    // A price change re-signs the offer; the running lease keeps the price it agreed.
    const dearer = await consoleFetch(url, '/api/v1/price', {
      token,
      method: 'POST',
      body: { pricePerSecond: '3000000000' },
    })
    assert.equal(dearer.status, 200)
    assert.equal((await fetchOffer({ node: renter.node }, address)).offer.pricePerSecond, 3_000_000_000n)
    const running = () => daemon.leaseList().find((l) => l.leaseId === again.leaseId)!
    await waitFor(() => running().ticksPaid >= 2, 'two paid ticks at the old price')
    assert.equal(running().pricePerSecond, 2_000_000_000n)
    assert.equal(running().amountPaid, 2_000_000_000n * BigInt(running().ticksPaid))
    const ended = await again.end()
    assert.equal(ended.endReason, 'RENTER_ENDED')

    // A price that is no whole amount per tick, or not a number, is refused with 400.
    const bad = await consoleFetch(url, '/api/v1/price', { token, method: 'POST', body: { pricePerSecond: '-1' } })
    assert.equal(bad.status, 400)
    assert.equal(bad.json.error.code, 'INVALID_INPUT')
  })
})
