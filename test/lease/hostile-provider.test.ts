import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { bytesToHex, type Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { LEASE_LIMITS, LEASE_PROTOCOL } from '../../src/lease/constants.js'
import { EndReason, InvalidQuoteError, LeaseStatus, openLease } from '../../src/lease/index.js'
import { providerMessage } from '../../src/lease/messages.js'
import { amountPerTick } from '../../src/lease/metering.js'
import { LeaseReply, LeaseRequest, ProviderMessage, RenterMessage } from '../../src/lease/pb/lease.js'
import { signQuote } from '../../src/lease/quote.js'
import { createMessageStream, createNode, type ParkbenchNode } from '../../src/net/index.js'
import { amountToBytes } from '../../src/pay/messages.js'
import { createPaymentSender, type PaymentSender } from '../../src/pay/payment-sender.js'
import { createPaymentStore, type PaymentStore } from '../../src/pay/payment-store.js'

const PRICE = 1_000n

/** How the fake provider misbehaves. */
interface Misbehaviour {
  /** The channel total its quote claims. */
  channelTotal: bigint
  /** Sent right after STARTED. */
  afterStarted?: Uint8Array
}

/**
 * A provider that speaks the lease protocol by hand (no chain behind it: the renter checks a quote before it signs
 * anything, and pays ticks from its own records) and misbehaves as told. Records what the renter sent.
 */
async function fakeProvider(
  node: ParkbenchNode,
  privateKey: PrivateKey,
  misbehaviour: () => Misbehaviour,
): Promise<{ accepted: number }> {
  const seen = { accepted: 0 }
  await node.handle(LEASE_PROTOCOL, async (stream, connection) => {
    const messages = createMessageStream(stream, { maxDataLength: LEASE_LIMITS.maxMessageBytes })
    const how = misbehaviour()
    try {
      const request = await messages.read(LeaseRequest)
      const signed = await signQuote(privateKey, {
        leaseId: Uint8Array.from(randomBytes(32)),
        renterPeerId: connection.remotePeer.toMultihash().bytes as Uint8Array<ArrayBuffer>,
        channelId: request.channelId,
        pricePerSecond: PRICE,
        tickIntervalMs: 1_000,
        graceMs: 500,
        maxSeconds: request.seconds,
        threads: 1,
        amountPerTick: amountPerTick(PRICE, 1_000),
        expiresAtMs: BigInt(Date.now() + 10_000),
        voucherEveryTicks: 60,
        channelTotal: amountToBytes(how.channelTotal),
      })
      await messages.write({ status: LeaseStatus.OK, reason: '', ...signed }, LeaseReply)
      const accept = await messages.read(RenterMessage)
      if (accept.kind === RenterMessage.Kind.ACCEPT) seen.accepted++
      await messages.write(
        providerMessage({ kind: ProviderMessage.Kind.STARTED, status: LeaseStatus.OK }),
        ProviderMessage,
      )
      if (how.afterStarted !== undefined) stream.send(how.afterStarted)
      await messages.read(RenterMessage)
    } catch (err) {
      messages.abort(err as Error)
    }
  })
  return seen
}

describe('leases against a hostile provider', () => {
  let providerNode: ParkbenchNode
  let renterNode: ParkbenchNode
  let store: PaymentStore
  let sender: PaymentSender
  let seen: { accepted: number }
  let how: Misbehaviour = { channelTotal: 0n }

  before(async () => {
    const privateKey = await generateKeyPair('Ed25519')
    providerNode = await createNode({ privateKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
    renterNode = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    await renterNode.peerStore.merge(providerNode.peerId, { multiaddrs: providerNode.getMultiaddrs() })
    seen = await fakeProvider(providerNode, privateKey, () => how)
    store = await createPaymentStore({ path: join(await mkdtemp(join(tmpdir(), 'pb-hostile-provider-')), 'payments') })
    const account = privateKeyToAccount(generatePrivateKey())
    sender = createPaymentSender({ store, account }, { chainId: 31337, contract: `0x${'11'.repeat(20)}` })
    await sender.start()
  })

  after(async () => {
    await sender?.stop()
    await store?.stop()
    await renterNode?.stop()
    await providerNode?.stop()
  })

  const lease = (channelId: Hex) =>
    openLease(
      { node: renterNode, sender },
      {
        provider: providerNode.peerId,
        providerPeerId: providerNode.peerId,
        channelId,
        maxPricePerSecond: PRICE,
        seconds: 30,
      },
    )

  it("refuses a quote that puts the channel's total above what the renter authorised, before signing anything", async () => {
    const channelId = bytesToHex(randomBytes(32))
    // Tick 1 of a commitment on top of this would be worth nearly the whole deposit to the provider.
    how = { channelTotal: 10n ** 18n }
    await assert.rejects(lease(channelId), InvalidQuoteError)
    assert.equal(seen.accepted, 0)
    // The same quote with the channel's true total (nothing spent yet) is accepted.
    how = { channelTotal: 0n }
    const fair = await lease(channelId)
    assert.equal(seen.accepted, 1)
    await fair.end()
  })

  it('ends a lease PROTOCOL_ERROR when the provider sends a frame over 4 KiB', async () => {
    how = { channelTotal: 0n, afterStarted: Uint8Array.from([0x88, 0x27, ...new Uint8Array(5_000)]) }
    const l = await lease(bytesToHex(randomBytes(32)))
    const ended = await Promise.race([l.ended, new Promise((r) => setTimeout(r, 5_000, 'still running'))])
    assert.equal(ended, EndReason.PROTOCOL_ERROR)
  })
})
