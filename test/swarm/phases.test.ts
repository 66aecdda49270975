import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { ClientProgressEvent } from '../../src/client/events.js'
import { createPhaseClock } from '../../src/swarm/phases.js'

const PAYOUT = '0x0000000000000000000000000000000000000001'
const HASH = `0x${'00'.repeat(32)}` as const

describe('the phases of a first paid result, from the client progress events', () => {
  it('splits a request into discovery, channel, model push, job and the rest, summing to the whole', () => {
    let t = 1_000
    const clock = createPhaseClock(() => t)
    const at = (ms: number, event: ClientProgressEvent) => {
      t = 1_000 + ms
      clock.onProgress(event)
    }
    at(400, { type: 'discovery:found', offers: 3, cached: false })
    at(450, { type: 'channel:opening', payoutAddress: PAYOUT, deposit: 1n })
    at(750, { type: 'channel:opened', payoutAddress: PAYOUT, channelId: HASH, deposit: 1n, transactionHash: HASH })
    // The first provider refused the lease; the next granted one.
    at(800, { type: 'lease:failed', providerPeer: 'a', error: 'busy' })
    at(900, { type: 'lease:started', providerPeer: 'b', leaseId: HASH, pricePerSecond: 1n, channelId: HASH })
    at(950, { type: 'model:pushing', providerPeer: 'b', sha256: 'x', bytes: 10, totalBytes: 20 })
    at(1_000, { type: 'model:pushing', providerPeer: 'b', sha256: 'x', bytes: 20, totalBytes: 20 })
    at(1_100, { type: 'model:pushed', providerPeer: 'b', sha256: 'x' })
    at(1_120, { type: 'job:started', providerPeer: 'b', leaseId: HASH })
    // A second discovery (a failover's) does not move the first.
    at(1_130, { type: 'discovery:found', offers: 1, cached: true })
    t = 1_000 + 1_200
    const spent = clock.done()
    assert.deepEqual(spent, { discovery: 400, channel: 300, modelPush: 150, job: 80, other: 270 })
    assert.equal(
      Object.values(spent).reduce((a, b) => a + b, 0),
      1_200,
    )
  })

  it('a request on a lease already held is all job but for the rest', () => {
    let t = 0
    const clock = createPhaseClock(() => t)
    t = 2
    clock.onProgress({ type: 'job:started', providerPeer: 'b', leaseId: HASH })
    t = 30
    assert.deepEqual(clock.done(), { discovery: 0, channel: 0, modelPush: 0, job: 28, other: 2 })
  })
})
