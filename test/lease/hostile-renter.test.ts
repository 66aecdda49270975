import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Stream } from '@libp2p/interface'
import { pbStream } from '@libp2p/utils'
import { bytesToHex, type Hex } from 'viem'
import { LEASE_LIMITS, LEASE_PROTOCOL } from '../../src/lease/constants.js'
import { EndReason, LeaseStatus, openLease } from '../../src/lease/index.js'
import { renterMessage } from '../../src/lease/messages.js'
import { ticksIn } from '../../src/lease/metering.js'
import { LeaseReply, LeaseRequest, ProviderMessage, Quote, RenterMessage } from '../../src/lease/pb/lease.js'
import { createNode, type ParkbenchNode } from '../../src/net/index.js'
import { readMessage } from '../../src/net/message-stream.js'
import { amountFromBytes, encodeSignedTickCommitment } from '../../src/pay/messages.js'
import {
  type DevChain,
  PRICE,
  type ProviderSide,
  type RenterSide,
  startDevChain,
  startProvider,
  startRenter,
} from './fixture.js'

/** A stranger with no EVM key: it can name any channel id it sees on-chain, but sign nothing. */
async function squat(
  stranger: ParkbenchNode,
  provider: ProviderSide,
  channelId: Hex,
  threads: number,
): Promise<{ status: LeaseStatus; stream: Stream; close(): void }> {
  const stream = await stranger.dialProtocol(provider.node.getMultiaddrs(), LEASE_PROTOCOL)
  const pb = pbStream(stream, { maxDataLength: LEASE_LIMITS.maxMessageBytes })
  await pb.write(
    {
      models: [],
      maxPricePerSecond: PRICE,
      seconds: 30,
      threads,
      channelId: Uint8Array.from(Buffer.from(channelId.slice(2), 'hex')),
    },
    LeaseRequest,
  )
  const reply = await readMessage<LeaseReply>(pb, LeaseReply, { signal: AbortSignal.timeout(5_000) })
  // ... and never ACCEPTs: it holds the quote open as long as the provider lets it.
  return { status: reply.status, stream, close: () => stream.abort(new Error('squatter leaves')) }
}

/** A lease negotiated by hand (what openLease does, with the stream left in the test's hands). */
async function requestQuote(
  renter: RenterSide,
  provider: ProviderSide,
  channelId: Hex,
): Promise<{ stream: Stream; pb: ReturnType<typeof pbStream>; quote: Quote }> {
  const stream = await renter.node.dialProtocol(provider.node.peerId, LEASE_PROTOCOL)
  const pb = pbStream(stream, { maxDataLength: LEASE_LIMITS.maxMessageBytes })
  await pb.write(
    {
      models: [],
      maxPricePerSecond: PRICE,
      seconds: 30,
      threads: 1,
      channelId: Uint8Array.from(Buffer.from(channelId.slice(2), 'hex')),
    },
    LeaseRequest,
  )
  const reply = await readMessage<LeaseReply>(pb, LeaseReply, { signal: AbortSignal.timeout(5_000) })
  assert.equal(reply.status, LeaseStatus.OK, reply.reason)
  return { stream, pb, quote: Quote.decode(reply.quote) }
}

async function startByHand(
  renter: RenterSide,
  provider: ProviderSide,
  channelId: Hex,
): Promise<{ stream: Stream; pb: ReturnType<typeof pbStream>; leaseId: Hex }> {
  const { stream, pb, quote } = await requestQuote(renter, provider, channelId)
  const leaseId = bytesToHex(quote.leaseId)
  const commitment = await renter.sender.startLease({
    channelId,
    leaseId,
    amountPerTick: quote.amountPerTick,
    maxTicks: ticksIn(quote.maxSeconds, quote.tickIntervalMs),
  })
  const accept = renterMessage(RenterMessage.Kind.ACCEPT, {
    commitment: Uint8Array.from(encodeSignedTickCommitment(commitment)),
  })
  await pb.write(accept, RenterMessage)
  const started = await readMessage<ProviderMessage>(pb, ProviderMessage, { signal: AbortSignal.timeout(5_000) })
  assert.equal(started.status, LeaseStatus.OK, started.reason)
  return { stream, pb, leaseId }
}

/** The provider's messages until ENDED (or the stream ends). */
async function untilEnded(pb: ReturnType<typeof pbStream>): Promise<ProviderMessage | undefined> {
  for (;;) {
    const message = await readMessage<ProviderMessage>(pb, ProviderMessage, {
      signal: AbortSignal.timeout(5_000),
    }).catch(() => undefined)
    if (message === undefined || message.kind === ProviderMessage.Kind.ENDED) return message
  }
}

describe('leases against hostile peers (real anvil)', () => {
  let chain: DevChain
  let provider: ProviderSide
  let renter: RenterSide
  let stranger: ParkbenchNode

  before(async () => {
    chain = await startDevChain()
    provider = await startProvider(chain, 2, { tickIntervalMs: 200, voucherEveryTicks: 3 })
    renter = await startRenter(chain, 1, provider)
    stranger = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  })

  after(async () => {
    await stranger?.stop()
    await renter?.stop()
    await provider?.stop()
    await chain?.stop()
  })

  const lease = (channelId: Hex, sender: Parameters<typeof openLease>[0]['sender'] = renter.sender) =>
    openLease(
      { node: renter.node, sender },
      {
        provider: provider.node.peerId,
        providerPeerId: provider.node.peerId,
        channelId,
        maxPricePerSecond: PRICE,
        seconds: 30,
      },
    )

  it("a quote reserves nothing: a stranger holding quotes on someone else's channel takes neither it nor the threads", async () => {
    const channelId = await renter.openChannel()
    // The stranger asks for the renter's channel and for every thread, and sits on the quotes.
    const squatters = [await squat(stranger, provider, channelId, 2), await squat(stranger, provider, channelId, 1)]
    try {
      assert.deepEqual(
        squatters.map((s) => s.status),
        [LeaseStatus.OK, LeaseStatus.OK],
      )
      // A third negotiation from the same peer is refused: strangers get few at a time.
      const third = await squat(stranger, provider, channelId, 1)
      third.close()
      assert.equal(third.status, LeaseStatus.BUSY)
      // The channel's owner leases at once: not CHANNEL_INVALID, and the provider is not BUSY.
      assert.equal(provider.leases.freeThreads(), 2)
      const l = await lease(channelId)
      await l.waitPaidUp()
      const summary = await l.end()
      assert.equal(summary.endReason, 'RENTER_ENDED')
    } finally {
      for (const s of squatters) s.close()
    }
  })

  it('a refused lease stream is answered and closed at once, though the stranger keeps its side open', async () => {
    const channelId = await renter.openChannel()
    const squatters = [await squat(stranger, provider, channelId, 1), await squat(stranger, provider, channelId, 1)]
    try {
      const refused = await squat(stranger, provider, channelId, 1)
      assert.equal(refused.status, LeaseStatus.BUSY)
      // The stranger never closes; the provider does not keep the stream (nor a slot) for it.
      const closed = await new Promise<boolean>((resolve) => {
        if (refused.stream.status !== 'open') resolve(true)
        const timer = setTimeout(() => resolve(false), 3_000)
        refused.stream.addEventListener('close', () => {
          clearTimeout(timer)
          resolve(true)
        })
      })
      assert.ok(closed, `refused stream still ${refused.stream.status}`)
    } finally {
      for (const s of squatters) s.close()
    }
  })

  it('a renter that stops sending vouchers has its lease ended PAYMENT_LATE', async () => {
    const channelId = await renter.openChannel()
    const noVouchers = {
      startLease: renter.sender.startLease.bind(renter.sender),
      renewLease: renter.sender.renewLease.bind(renter.sender),
      endLease: renter.sender.endLease.bind(renter.sender),
      channelTotal: renter.sender.channelTotal.bind(renter.sender),
      // It pays every tick but never sends the voucher the quote's cadence (every 3 ticks here) asks for.
      nextTick: async (id: Hex) => {
        const { voucher: _dropped, ...tick } = await renter.sender.nextTick(id)
        return tick
      },
    }
    const cheat = await lease(channelId, noVouchers)
    const ended = await Promise.race([cheat.ended, new Promise((r) => setTimeout(r, 10_000, 'still running'))])
    assert.equal(ended, EndReason.PAYMENT_LATE)
    const record = provider.leases.leases().find((x) => x.leaseId === cheat.leaseId)!
    assert.equal(record.endReason, 'PAYMENT_LATE')
    // 3 ticks are due before a voucher, plus 2 of slack; no more are taken.
    assert.equal(record.ticksPaid, 5)
    // An honest renter follows the quote's cadence, so its lease runs on.
    const honest = await lease(await renter.openChannel())
    await new Promise((r) => setTimeout(r, 2_000))
    assert.equal(honest.active, true)
    const summary = await honest.end()
    assert.equal(summary.endReason, 'RENTER_ENDED')
    assert.ok(summary.ticksSent >= 8, `ticks ${summary.ticksSent}`)
  })

  it('one payout key on two nodes: a channel bound to one node is refused by the other', async () => {
    // Node B shares node A's payout account (dev account 2).
    const b = await startProvider(chain, 2)
    try {
      await renter.node.peerStore.merge(b.node.peerId, { multiaddrs: b.node.getMultiaddrs() })
      const channelId = await renter.openChannel() // bound to node A
      await assert.rejects(
        openLease(
          { node: renter.node, sender: renter.sender },
          {
            provider: b.node.peerId,
            providerPeerId: b.node.peerId,
            channelId,
            maxPricePerSecond: PRICE,
            seconds: 30,
          },
        ),
        { name: 'LeaseRefusedError', status: LeaseStatus.CHANNEL_INVALID },
      )
      assert.equal(b.receiver.channelTotal(channelId), 0n)
    } finally {
      await b.stop()
    }
  })

  it('a renter that sends a frame over 4 KiB, or one that does not decode, mid-lease has it ended PROTOCOL_ERROR', async () => {
    const frames = {
      oversized: Uint8Array.from([0x88, 0x27, ...new Uint8Array(5_000)]), // varint 5000, then 5000 bytes
      undecodable: Uint8Array.from([3, 0x0a, 0x50, 0x01]), // field 1 claims 80 bytes and holds one
    }
    for (const [name, frame] of Object.entries(frames)) {
      const { stream, pb, leaseId } = await startByHand(renter, provider, await renter.openChannel())
      stream.send(frame)
      const ended = await untilEnded(pb)
      stream.abort(new Error('done'))
      assert.equal(ended?.endReason, EndReason.PROTOCOL_ERROR, `${name}: told ${ended?.endReason}`)
      const record = provider.leases.leases().find((x) => x.leaseId === leaseId)!
      assert.equal(record.endReason, 'PROTOCOL_ERROR', name)
    }
    // A renter that just goes away is still RENTER_GONE.
    const gone = await startByHand(renter, provider, await renter.openChannel())
    gone.stream.abort(new Error('renter crashed'))
    const deadline = Date.now() + 5_000
    let record = provider.leases.leases().find((x) => x.leaseId === gone.leaseId)!
    while (record.endReason === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20))
      record = provider.leases.leases().find((x) => x.leaseId === gone.leaseId)!
    }
    assert.equal(record.endReason, 'RENTER_GONE')
  })

  it('a request frame over 4 KiB, or one that does not decode, is answered BAD_REQUEST', async () => {
    for (const frame of [
      Uint8Array.from([0x88, 0x27, ...new Uint8Array(5_000)]),
      Uint8Array.from([3, 0x0a, 0x50, 0x01]),
    ]) {
      const stream = await stranger.dialProtocol(provider.node.getMultiaddrs(), LEASE_PROTOCOL)
      stream.send(frame)
      const pb = pbStream(stream, { maxDataLength: LEASE_LIMITS.maxMessageBytes })
      const reply = await readMessage<LeaseReply>(pb, LeaseReply, { signal: AbortSignal.timeout(5_000) })
      stream.abort(new Error('done'))
      assert.equal(reply.status, LeaseStatus.BAD_REQUEST)
    }
  })

  it("a quote carries the channel's total, the base every commitment must start from", async () => {
    const channelId = await renter.openChannel()
    const first = await requestQuote(renter, provider, channelId)
    first.stream.abort(new Error('only looking'))
    assert.equal(amountFromBytes(first.quote.channelTotal), 0n)
    const l = await lease(channelId)
    await l.waitPaidUp()
    await l.end()
    const total = provider.receiver.channelTotal(channelId)
    assert.ok(total > 0n)
    assert.equal(renter.sender.channelTotal(channelId), total)
    const next = await requestQuote(renter, provider, channelId)
    next.stream.abort(new Error('only looking'))
    assert.equal(amountFromBytes(next.quote.channelTotal), total)
  })
})
