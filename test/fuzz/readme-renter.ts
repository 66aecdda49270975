import { randomBytes } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import * as Digest from 'multiformats/hashes/digest'
import {
  type Address,
  bytesToHex,
  createPublicClient,
  createWalletClient,
  decodeEventLog,
  type Hex,
  hexToBytes,
  http,
  keccak256,
  type LocalAccount,
  type PublicClient,
  parseAbi,
  type WalletClient,
  zeroAddress,
} from 'viem'
import { foundry } from 'viem/chains'
import { LeaseReply, LeaseRequest, ProviderMessage, Quote, RenterMessage } from '../../src/lease/pb/lease.js'
import { Offer, OfferRequest, OfferResponse, type SignedOffer } from '../../src/market/pb/market.js'
import type { ParkbenchNode } from '../../src/net/create-node.js'
import { HashFunction, SignedTickCommitment, Tick, Voucher } from '../../src/pay/pb/pay.js'
import { concat, frame, RawStream } from './wire.js'

/*
 * A renter written from protocols/README.md alone: it opens channels on the contract (ABI transcribed from
 * protocols/PaymentChannel.sol), signs EIP-712 commitments and vouchers, walks a keccak256 hash chain and speaks
 * /parkbench/lease/1.0.0 and /parkbench/offer/1.0.0 frame by frame. It imports only the generated codecs.
 */

export const OFFER_PROTOCOL = '/parkbench/offer/1.0.0'
export const LEASE_PROTOCOL = '/parkbench/lease/1.0.0'
export const INFER_PROTOCOL = '/parkbench/infer/1.0.0'
export const MODEL_PROTOCOL = '/parkbench/model/1.0.0'
export const KAD_PROTOCOL = '/parkbench/kad/1.0.0'

const OFFER_DOMAIN = new TextEncoder().encode('parkbench/offer/1')
const QUOTE_DOMAIN = new TextEncoder().encode('parkbench/quote/1')

/** From protocols/PaymentChannel.sol: what the renter calls. */
export const PAYMENT_CHANNEL_ABI = parseAbi([
  'function open(address provider, bytes32 providerNode, address token, uint256 amount) payable returns (bytes32 channelId)',
  'event ChannelOpened(bytes32 indexed channelId, address indexed renter, address indexed provider, bytes32 providerNode, address token, uint256 deposit)',
])

export interface ChainInfo {
  rpcUrl: string
  chainId: number
  contract: Address
}

/** "Amounts are bytes: unsigned big-endian, no leading zero, at most 16 bytes." */
export function amountBytes(value: bigint): Uint8Array<ArrayBuffer> {
  if (value === 0n) return new Uint8Array()
  let hex = value.toString(16)
  if (hex.length % 2 === 1) hex = `0${hex}`
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

export function amountFromBytes(bytes: Uint8Array): bigint {
  return bytes.byteLength === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`)
}

/** "providerNode = keccak256(peer id bytes)". */
export function providerNodeOf(peer: PeerId): Hex {
  return keccak256(peer.toMultihash().bytes)
}

/** "h_i = H(h_{i-1}) up to tip = h_n": chain[i] = h_i. */
export function hashChain(ticks: number): Uint8Array[] {
  const chain: Uint8Array[] = [Uint8Array.from(randomBytes(32))]
  for (let i = 1; i <= ticks; i++) chain.push(hexToBytes(keccak256(chain[i - 1]!)))
  return chain
}

export interface CommitmentFields {
  chainId: bigint
  contract: Address
  channelId: Hex
  leaseId: Hex
  tip: Uint8Array
  hashFunction: number
  amountPerTick: bigint
  baseAmount: bigint
  maxTicks: number
}

export interface VerifiedQuote {
  quote: Quote
  bytes: Uint8Array
  leaseId: Hex
}

/** A lease stream after STARTED: the chain, what has been paid, and the stream. */
export interface StartedLease {
  raw: RawStream
  quote: Quote
  leaseId: Hex
  channelId: Hex
  chain: Uint8Array[]
  maxTicks: number
  baseAmount: bigint
  ticksSent: number
}

export class ReadmeRenter {
  readonly node: ParkbenchNode
  readonly provider: PeerId
  readonly addrs: Multiaddr[]
  readonly chain: ChainInfo
  readonly account: LocalAccount
  readonly publicClient: PublicClient
  readonly wallet: WalletClient
  /** Per channel, an upper bound of what the provider may have accepted: the base of the next commitment. */
  readonly totals = new Map<Hex, bigint>()

  constructor(init: {
    node: ParkbenchNode
    provider: PeerId
    addrs: Multiaddr[]
    chain: ChainInfo
    account: LocalAccount
  }) {
    this.node = init.node
    this.provider = init.provider
    this.addrs = init.addrs
    this.chain = init.chain
    this.account = init.account
    const chain = { ...foundry, id: init.chain.chainId }
    this.publicClient = createPublicClient({ chain, transport: http(init.chain.rpcUrl) }) as PublicClient
    this.wallet = createWalletClient({ chain, transport: http(init.chain.rpcUrl), account: init.account })
  }

  /** Open a stream on `protocol` to the provider, bounded by `timeoutMs`. */
  async open(protocol: string, timeoutMs = 5_000, node: ParkbenchNode = this.node): Promise<RawStream> {
    const stream = await node.dialProtocol(this.addrs, protocol, { signal: AbortSignal.timeout(timeoutMs) })
    return new RawStream(stream)
  }

  /** The provider's offer, checked as README "Offers" says: decodes, served by its peer, signature verifies. */
  async fetchOffer(): Promise<Offer> {
    const raw = await this.open(OFFER_PROTOCOL)
    const deadline = Date.now() + 5_000
    await raw.send(frame(OfferRequest.encode({})), deadline)
    const read = await raw.readFrame(deadline)
    raw.abort()
    if (!('frame' in read)) throw new Error(`No offer: ${JSON.stringify(read)}`)
    const response = OfferResponse.decode(read.frame)
    if (response.status !== OfferResponse.Status.OK || response.offer == null) throw new Error('Not selling')
    const offer = await verifyOffer(response.offer, this.provider)
    if (offer == null) throw new Error('The offer does not verify')
    return offer
  }

  /** Deposit `amount` wei into a new channel to `provider` (default: the offer's payout address and this node). */
  async openChannel(amount: bigint, to: { provider: Address; providerNode?: Hex }): Promise<Hex> {
    const hash = await this.wallet.writeContract({
      address: this.chain.contract,
      abi: PAYMENT_CHANNEL_ABI,
      functionName: 'open',
      args: [to.provider, to.providerNode ?? providerNodeOf(this.provider), zeroAddress, amount],
      value: amount,
      // anvil runs with --no-priority-fee; viem's default tip of 1 gwei would be over its fee cap.
      maxPriorityFeePerGas: 0n,
      chain: this.wallet.chain,
      account: this.account,
    })
    const receipt = await this.publicClient.waitForTransactionReceipt({ hash })
    for (const log of receipt.logs) {
      try {
        const event = decodeEventLog({ abi: PAYMENT_CHANNEL_ABI, data: log.data, topics: log.topics })
        if (event.eventName === 'ChannelOpened') {
          this.totals.set(event.args.channelId, 0n)
          return event.args.channelId
        }
      } catch {}
    }
    throw new Error('No ChannelOpened event')
  }

  /** The EIP-712 signature of a TickCommitment (README "EIP-712"). */
  async signCommitment(fields: CommitmentFields): Promise<Uint8Array<ArrayBuffer>> {
    const signature = await this.account.signTypedData!({
      domain: {
        name: 'ParkbenchPaymentChannel',
        version: '1',
        chainId: Number(fields.chainId),
        verifyingContract: fields.contract,
      },
      types: {
        TickCommitment: [
          { name: 'channelId', type: 'bytes32' },
          { name: 'leaseId', type: 'bytes32' },
          { name: 'tip', type: 'bytes32' },
          { name: 'hashFunction', type: 'uint8' },
          { name: 'amountPerTick', type: 'uint256' },
          { name: 'baseAmount', type: 'uint256' },
          { name: 'maxTicks', type: 'uint32' },
        ],
      },
      primaryType: 'TickCommitment',
      message: {
        channelId: fields.channelId,
        leaseId: fields.leaseId,
        tip: bytesToHex(fields.tip),
        hashFunction: fields.hashFunction,
        amountPerTick: fields.amountPerTick,
        baseAmount: fields.baseAmount,
        maxTicks: fields.maxTicks,
      },
    })
    return hexToBytes(signature) as Uint8Array<ArrayBuffer>
  }

  /** An encoded SignedTickCommitment: `fields` signed, then `edit` applied to the wire message (for hostile ones). */
  async commitment(
    fields: CommitmentFields,
    edit: (message: SignedTickCommitment) => SignedTickCommitment = (m) => m,
  ): Promise<Uint8Array> {
    const signature = await this.signCommitment(fields)
    const signed: SignedTickCommitment = {
      chainId: fields.chainId,
      contract: hexToBytes(fields.contract) as Uint8Array<ArrayBuffer>,
      channelId: hexToBytes(fields.channelId) as Uint8Array<ArrayBuffer>,
      leaseId: hexToBytes(fields.leaseId) as Uint8Array<ArrayBuffer>,
      tip: Uint8Array.from(fields.tip),
      hashFunction: fields.hashFunction === 1 ? HashFunction.SHA256 : HashFunction.KECCAK256,
      amountPerTick: amountBytes(fields.amountPerTick),
      baseAmount: amountBytes(fields.baseAmount),
      maxTicks: fields.maxTicks,
      signature,
    }
    return SignedTickCommitment.encode(edit(signed))
  }

  /** An encoded, EIP-712 signed Voucher for `total` on `channelId`. */
  async voucher(channelId: Hex, total: bigint, edit: (v: Voucher) => Voucher = (v) => v): Promise<Uint8Array> {
    const signature = await this.account.signTypedData!({
      domain: {
        name: 'ParkbenchPaymentChannel',
        version: '1',
        chainId: this.chain.chainId,
        verifyingContract: this.chain.contract,
      },
      types: {
        Voucher: [
          { name: 'channelId', type: 'bytes32' },
          { name: 'total', type: 'uint256' },
        ],
      },
      primaryType: 'Voucher',
      message: { channelId, total },
    })
    return Voucher.encode(
      edit({
        chainId: BigInt(this.chain.chainId),
        contract: hexToBytes(this.chain.contract) as Uint8Array<ArrayBuffer>,
        channelId: hexToBytes(channelId) as Uint8Array<ArrayBuffer>,
        total: amountBytes(total),
        signature: hexToBytes(signature) as Uint8Array<ArrayBuffer>,
      }),
    )
  }

  /** A LeaseRequest for `channelId` with sensible values, `over` replacing any of them. */
  leaseRequest(channelId: Hex, price: bigint, over: Partial<LeaseRequest> = {}): LeaseRequest {
    return {
      models: [],
      maxPricePerSecond: price,
      seconds: 60,
      threads: 1,
      channelId: hexToBytes(channelId) as Uint8Array<ArrayBuffer>,
      ...over,
    }
  }

  /** Check a quote as the README says: signed by the provider's peer key over "parkbench/quote/1" || quote. */
  async verifyQuote(reply: LeaseReply): Promise<VerifiedQuote | undefined> {
    const key = this.provider.publicKey
    if (key == null || reply.quote.byteLength === 0) return undefined
    if (!(await key.verify(concat(QUOTE_DOMAIN, reply.quote), reply.signature))) return undefined
    const quote = Quote.decode(reply.quote)
    return { quote, bytes: reply.quote, leaseId: bytesToHex(quote.leaseId) }
  }

  /** Negotiate and start a lease on `channelId` for `seconds`: request, verified quote, ACCEPT, STARTED OK. */
  async startLease(
    channelId: Hex,
    price: bigint,
    over: Partial<LeaseRequest> = {},
    deadlineMs = 10_000,
  ): Promise<StartedLease> {
    const raw = await this.open(LEASE_PROTOCOL)
    const deadline = Date.now() + deadlineMs
    try {
      await raw.send(frame(LeaseRequest.encode(this.leaseRequest(channelId, price, over))), deadline)
      const replyFrame = await raw.readFrame(deadline)
      if (!('frame' in replyFrame)) throw new Error(`No lease reply: ${JSON.stringify(replyFrame)}`)
      const reply = LeaseReply.decode(replyFrame.frame)
      const verified = await this.verifyQuote(reply)
      if (reply.status !== 'OK' || verified == null) throw new Error(`Lease refused: ${reply.status} ${reply.reason}`)
      const { quote, leaseId } = verified
      const maxTicks = Math.floor((quote.maxSeconds * 1000) / quote.tickIntervalMs)
      const chain = hashChain(maxTicks)
      const baseAmount = this.totals.get(channelId) ?? 0n
      const commitment = await this.commitment({
        chainId: BigInt(this.chain.chainId),
        contract: this.chain.contract,
        channelId,
        leaseId,
        tip: chain[maxTicks]!,
        hashFunction: 0,
        amountPerTick: quote.amountPerTick,
        baseAmount,
        maxTicks,
      })
      await raw.send(frame(RenterMessage.encode(renterMessage(RenterMessage.Kind.ACCEPT, { commitment }))), deadline)
      const startedFrame = await raw.readFrame(deadline)
      if (!('frame' in startedFrame)) throw new Error(`No STARTED: ${JSON.stringify(startedFrame)}`)
      const started = ProviderMessage.decode(startedFrame.frame)
      if (started.kind !== 'STARTED' || started.status !== 'OK') {
        throw new Error(`Not started: ${started.kind} ${started.status} ${started.reason}`)
      }
      return { raw, quote, leaseId, channelId, chain, maxTicks, baseAmount, ticksSent: 0 }
    } catch (err) {
      raw.abort()
      throw err
    }
  }

  /** The TICK frame for tick `index` of `lease` (revealing h_{n-index}). */
  tickFrame(lease: StartedLease, index: number, edit: (t: Tick) => Tick = (t) => t): Uint8Array {
    const preimage = Uint8Array.from(lease.chain[lease.maxTicks - index] ?? new Uint8Array(32))
    const tick = Tick.encode(edit({ leaseId: Uint8Array.from(lease.quote.leaseId), index, preimage }))
    return frame(RenterMessage.encode(renterMessage(RenterMessage.Kind.TICK, { tick })))
  }

  /** Record that tick `index` was sent: the channel's accepted total may now reach it. */
  noteTick(lease: StartedLease, index: number): void {
    lease.ticksSent = Math.max(lease.ticksSent, index)
    const reach = lease.baseAmount + BigInt(index) * lease.quote.amountPerTick
    if (reach > (this.totals.get(lease.channelId) ?? 0n)) this.totals.set(lease.channelId, reach)
  }
}

/** A RenterMessage of `kind` with every other field at its default. */
export function renterMessage(
  kind: RenterMessage.Kind,
  fields: { commitment?: Uint8Array; tick?: Uint8Array; voucher?: Uint8Array; reason?: RenterMessage['reason'] } = {},
): RenterMessage {
  const bytes = (b: Uint8Array | undefined): Uint8Array<ArrayBuffer> => Uint8Array.from(b ?? [])
  return {
    kind,
    commitment: bytes(fields.commitment),
    tick: bytes(fields.tick),
    voucher: bytes(fields.voucher),
    reason: fields.reason ?? ('END_REASON_UNSPECIFIED' as RenterMessage['reason']),
  }
}

/** README "Offers": decodes, `peer_id` is the serving peer, the signature verifies. The Offer, or undefined. */
export async function verifyOffer(signed: SignedOffer, servedBy: PeerId): Promise<Offer | undefined> {
  try {
    const offer = Offer.decode(signed.offer)
    const peer = peerIdFromMultihash(Digest.decode(offer.peerId))
    if (!peer.equals(servedBy) || peer.publicKey == null) return undefined
    if (!(await peer.publicKey.verify(concat(OFFER_DOMAIN, signed.offer), signed.signature))) return undefined
    return offer
  } catch {
    return undefined
  }
}
