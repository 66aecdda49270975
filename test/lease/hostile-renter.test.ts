import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { pbStream } from '@libp2p/utils'
import type { Hex } from 'viem'
import { LEASE_LIMITS, LEASE_PROTOCOL } from '../../src/lease/constants.js'
import { EndReason, LeaseStatus, openLease } from '../../src/lease/index.js'
import { LeaseReply, LeaseRequest } from '../../src/lease/pb/lease.js'
import { createNode, type ParkbenchNode } from '../../src/net/index.js'
import { readMessage } from '../../src/net/message-stream.js'
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
): Promise<{ status: LeaseStatus; close(): void }> {
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
  return { status: reply.status, close: () => stream.abort(new Error('squatter leaves')) }
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

  it('a renter that stops sending vouchers has its lease ended PAYMENT_LATE', async () => {
    const channelId = await renter.openChannel()
    const noVouchers = {
      startLease: renter.sender.startLease.bind(renter.sender),
      renewLease: renter.sender.renewLease.bind(renter.sender),
      endLease: renter.sender.endLease.bind(renter.sender),
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
})
