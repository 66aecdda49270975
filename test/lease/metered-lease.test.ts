import assert from 'node:assert/strict'
import { stat } from 'node:fs'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Hex } from 'viem'
import { renterMessage } from '../../src/lease/messages.js'
import { MeteredLease, type MeteredLeaseInit } from '../../src/lease/metered-lease.js'
import { EndReason, ProviderMessage, RenterMessage } from '../../src/lease/pb/lease.js'
import type { MessageStream } from '../../src/net/message-stream.js'
import { encodeTick } from '../../src/pay/messages.js'

const LEASE_ID = `0x${'11'.repeat(32)}` as Hex
const CHANNEL_ID = `0x${'22'.repeat(32)}` as Hex
const sleep = async (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** The renter's side of a lease stream, in memory: messages the test pushes, and what the lease wrote back. */
function fakeStream() {
  const inbox: RenterMessage[] = []
  let wake: (() => void) | undefined
  const written: ProviderMessage[] = []
  const messages = {
    async read() {
      while (inbox.length === 0) await new Promise<void>((r) => (wake = r))
      return inbox.shift()!
    },
    async write(message: ProviderMessage) {
      written.push(message)
    },
    async end() {},
    abort() {},
  }
  const push = (message: RenterMessage): void => {
    inbox.push(message)
    wake?.()
  }
  return { messages: messages as unknown as MessageStream, written, push }
}

const tick = (index: number): RenterMessage =>
  renterMessage(RenterMessage.Kind.TICK, {
    tick: Uint8Array.from(encodeTick({ leaseId: LEASE_ID, index, preimage: new Uint8Array(32).fill(index) })),
  })

async function lease(acceptTickMs: number) {
  const stream = fakeStream()
  const ended: Array<string | undefined> = []
  const init: MeteredLeaseInit = {
    info: {
      leaseId: LEASE_ID,
      renter: 'renter',
      channelId: CHANNEL_ID,
      models: [],
      threads: 1,
      pricePerSecond: 1_000n,
      startedAt: Date.now(),
      ticksPaid: 0,
      amountPaid: 0n,
      jobs: 0,
      jobRunMs: 0,
      state: 'active',
    },
    renter: peerIdFromPrivateKey(await generateKeyPair('Ed25519')),
    models: new Set(),
    commitmentMaxTicks: 100,
    amountPerTick: 200n,
    messages: stream.messages,
    terms: { tickIntervalMs: 200, graceMs: 100, voucherEveryTicks: 60, maxLeaseSeconds: 60 },
    receiver: {
      // A payment store that takes `acceptTickMs` to make a tick durable (an fsync stall).
      acceptTick: async (_leaseId, _preimage, options) => {
        await sleep(acceptTickMs)
        return { channelId: CHANNEL_ID, leaseId: LEASE_ID, ticks: options?.index ?? 1, total: 200n }
      },
      acceptCommitment: async () => ({ channelId: CHANNEL_ID, total: 0n }),
      acceptVoucher: async () => ({ channelId: CHANNEL_ID, total: 0n }),
      endLease: () => {},
    },
    onEnd: (l) => ended.push(l.info.endReason),
  }
  const metered = new MeteredLease(init)
  const running = metered.run()
  return { metered, stream, ended, running }
}

describe('metered lease: a tick read in time is not late while the store makes it durable', () => {
  it('a first tick whose write outlasts the grace is acknowledged, and the lease goes on', async () => {
    const { metered, stream, ended, running } = await lease(400)
    stream.push(tick(1)) // at once: in time (grace 100 ms), but durable only after 400 ms
    await sleep(250)
    assert.deepEqual(ended, [], 'not ended PAYMENT_LATE while the tick is being written')
    assert.equal(metered.paidUp(), false, 'and not served before the tick is durable')
    await sleep(250)
    assert.deepEqual(ended, [])
    assert.equal(stream.written.at(-1)?.kind, ProviderMessage.Kind.TICK_ACK, 'acknowledged once durable')
    assert.equal(metered.paidUp(), true)
    // No further tick: late at the paid boundary (200 ms) plus the grace, as before.
    await sleep(400)
    assert.deepEqual(ended, ['PAYMENT_LATE'])
    stream.push(renterMessage(RenterMessage.Kind.END))
    await running
  })

  it('a tick that arrived in time but sat unread while the provider was busy is not late', async () => {
    const { metered, stream, ended, running } = await lease(0)
    // The tick arrives through I/O (a stat's callback stands in for the socket) while the loop is blocked past the
    // deadline (grace 100 ms) in another I/O callback: the next turn runs the late timer before that I/O.
    const file = new URL(import.meta.url).pathname
    setTimeout(() => {
      stat(file, () => {
        stat(file, () => stream.push(tick(1)))
        const until = performance.now() + 200
        while (performance.now() < until) {} // busy: a stalled event loop
      })
    }, 20)
    await sleep(300)
    assert.deepEqual(ended, [], 'not ended: the tick was there before the deadline')
    assert.equal(metered.paidUp(), true)
    stream.push(renterMessage(RenterMessage.Kind.END))
    await running
  })

  it('a renter that sends nothing is still ended PAYMENT_LATE after the grace', async () => {
    const { ended, running, stream } = await lease(0)
    await sleep(250)
    assert.deepEqual(ended, ['PAYMENT_LATE'])
    assert.equal(stream.written.at(-1)?.endReason, EndReason.PAYMENT_LATE)
    stream.push(renterMessage(RenterMessage.Kind.END))
    await running
  })
})
