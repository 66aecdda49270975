import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createPublicClient, type Hex, http } from 'viem'
import { openChannel } from '../../src/pay/actions/open-channel.js'
import { ChannelStateCache } from '../../src/pay/channel-state-cache.js'
import { chainFromConfig } from '../../src/pay/clients.js'
import { type PayFixture, setupPayFixture } from './helpers.js'

describe('channel state cache: background refreshes (anvil)', () => {
  let f: PayFixture
  const channels: Hex[] = []
  before(async () => {
    f = await setupPayFixture()
    for (let i = 0; i < 5; i++) {
      const opened = await openChannel(f.renter.wallet, {
        contract: f.chain.contract,
        provider: f.provider.account.address,
        providerNode: f.providerNode,
        amount: 1_000n + BigInt(i),
      })
      channels.push(opened.channelId)
    }
  })
  after(async () => {
    await f?.chain.stop()
  })

  it('stale channels asked for within one round are re-read together, in one JSON-RPC batch', async () => {
    let httpRequests = 0
    const batching = createPublicClient({
      chain: chainFromConfig(f.chain),
      transport: http(f.chain.rpcUrl, {
        batch: true,
        onFetchRequest: () => {
          httpRequests++
        },
      }),
    })
    const cache = new ChannelStateCache(
      { client: f.publicClient, refreshClient: batching },
      { contract: f.chain.contract, ttlMs: 0, refreshRoundMs: 50 },
    )
    for (const id of channels) await cache.get(id)
    await new Promise((r) => setTimeout(r, 5))
    assert.ok(channels.every((id) => cache.isStale(id)))
    const errors: Error[] = []
    for (const id of channels) cache.refreshSoon(id, (err) => errors.push(err))
    assert.equal(httpRequests, 0, 'nothing is read before the round')
    await new Promise((r) => setTimeout(r, 300))
    assert.deepEqual(errors, [])
    assert.equal(httpRequests, 1, 'five refreshes, one request')
    for (const [i, id] of channels.entries()) assert.equal(cache.peek(id)?.deposit, 1_000n + BigInt(i))
  })
})
