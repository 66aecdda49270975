import { mkdir, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { type Address, erc20Abi, type Hex, isAddressEqual, zeroAddress } from 'viem'
import { getBalance, getBlockNumber, readContract } from 'viem/actions'
import { writeFileDurable } from '../atomic-file.js'
import { DATA_DIR_LAYOUT } from '../data-dir.js'
import { getChannel } from '../pay/actions/get-channel.js'
import { listChannels } from '../pay/actions/list-channels.js'
import { type OpenChannelReturnType, openChannel } from '../pay/actions/open-channel.js'
import type { ChainIdentity } from '../pay/actions/verify-contract.js'
import type { PayPublicClient, PayWalletClient } from '../pay/clients.js'
import { ChannelNotOpenError } from '../pay/errors.js'
import type { PaymentSender } from '../pay/payment-sender.js'
import { InsufficientBalanceError } from './errors.js'
import type { ClientProgressEvent } from './events.js'

const log = logger('parkbench:client:channels')

/** The renter's known channels inside its data dir. */
export const RENTER_CHANNELS_FILE = DATA_DIR_LAYOUT.channels

/** A pending open older than this, whose transaction cannot be found, is given up. */
const PENDING_GIVE_UP_MS = 60 * 60_000

/** A channel's far end: the payout address it pays and the node it is bound to. */
export interface ChannelProvider {
  payoutAddress: Address
  /** The provider node's peer id. */
  providerPeer: string
  /** `providerNodeId` of that peer id: what the channel is bound to on-chain. */
  providerNode: Hex
}

/** An open recorded before its transaction is sent, so that a crash mid-open never loses the deposit. */
interface PendingOpen {
  key: string
  payoutAddress: Address
  providerNode: Hex
  token: Address
  amount: string
  /** The block before the open was sent: where to look for its ChannelOpened event. */
  fromBlock: string
  createdAt: number
  transactionHash?: Hex
}

interface ChannelsFile {
  /** Channel ids per chain identity, provider and token. */
  channels: Record<string, Hex[]>
  pending: PendingOpen[]
}

export interface ChannelBookComponents {
  wallet: PayWalletClient
  publicClient: PayPublicClient
  /** What this renter has authorised per channel (its durable payment records); needed to reuse channels. */
  sender?: Pick<PaymentSender, 'channelTotal'>
}

export interface ChannelBookInit {
  dataDir: string
  identity: ChainIdentity
  /** Pay in this ERC-20 instead of the native coin. */
  token?: Address | undefined
}

export interface AcquireOptions extends AbortOptions {
  /** Deposit of a channel opened now. */
  deposit: bigint
  onProgress?: (event: ClientProgressEvent) => void
}

/**
 * The renter's channels, one file in its data dir (`channels.json`), keyed by chain identity, provider node and
 * token. It hands out a channel that can pay what a lease needs and that no lease of this client is using (leases
 * on a channel are sequential), else opens one. An open is recorded before its transaction is sent and resumed at
 * start (as lotus's paychmgr does): a crash or abort mid-open never leaves a funded channel the client forgets.
 */
export class ChannelBook {
  private readonly components: ChannelBookComponents
  private readonly init: ChannelBookInit
  private readonly file: string
  private readonly inUse = new Set<string>()
  /** One read-modify-write of the file at a time. */
  private updating: Promise<unknown> = Promise.resolve()

  constructor(components: ChannelBookComponents, init: ChannelBookInit) {
    this.components = components
    this.init = init
    this.file = join(init.dataDir, RENTER_CHANNELS_FILE)
  }

  /** Every channel this renter knows on this chain (from its channels file: they outlive the process). */
  async channelIds(): Promise<Hex[]> {
    const { channels } = await this.read()
    return Object.entries(channels)
      .filter(([key]) => key.startsWith(`${this.init.identity.key}:`))
      .flatMap(([, ids]) => ids)
  }

  /** Resume opens a crash left pending: each becomes a known channel, or is given up if it never happened. */
  async start(options: AbortOptions = {}): Promise<void> {
    const { pending } = await this.read()
    for (const open of pending) {
      if (!open.key.startsWith(`${this.init.identity.key}:`)) continue
      try {
        const channelId = await this.findOpened(open, options)
        if (channelId != null) {
          log('resumed the pending open of %s: channel %s', open.payoutAddress, channelId)
          await this.remember(open.key, channelId, open)
        } else if (Date.now() - open.createdAt > PENDING_GIVE_UP_MS) {
          log('giving up a pending open to %s from %s: no such transaction', open.payoutAddress, open.createdAt)
          await this.update((f) => {
            f.pending = f.pending.filter((p) => !(p.key === open.key && p.createdAt === open.createdAt))
          })
        }
      } catch (err) {
        options.signal?.throwIfAborted()
        log.error('resuming a pending open failed, will retry at the next start: %e', err)
      }
    }
  }

  /**
   * A channel to `provider` that can pay `needed` and that no lease of this client holds; opened (with
   * `options.deposit`) when there is none. Marked in use until {@link release}.
   */
  async acquire(provider: ChannelProvider, needed: bigint, options: AcquireOptions): Promise<Hex> {
    const key = this.keyOf(provider)
    const file = await this.read()
    for (const channelId of file.channels[key] ?? []) {
      if (this.inUse.has(channelId.toLowerCase())) continue
      if (await this.usable(channelId, needed, options)) {
        this.inUse.add(channelId.toLowerCase())
        return channelId
      }
    }
    // A pending open of ours to this provider (left by a crash): finish it before opening another.
    for (const open of file.pending.filter((p) => p.key === key)) {
      const channelId = await this.findOpened(open, options)
      if (channelId != null) {
        await this.remember(key, channelId, open)
        if (!this.inUse.has(channelId.toLowerCase()) && (await this.usable(channelId, needed, options))) {
          this.inUse.add(channelId.toLowerCase())
          return channelId
        }
      }
    }
    const { channelId } = await this.openKeyed(provider, key, options)
    this.inUse.add(channelId.toLowerCase())
    return channelId
  }

  /**
   * Open a new channel to `provider` with `options.deposit` (recorded as pending before it is sent) and remember it
   * for leases to reuse.
   */
  open(provider: ChannelProvider, options: AcquireOptions): Promise<OpenChannelReturnType> {
    return this.openKeyed(provider, this.keyOf(provider), options)
  }

  /** The channel's lease ended: another may use it. */
  release(channelId: Hex): void {
    this.inUse.delete(channelId.toLowerCase())
  }

  private keyOf(provider: ChannelProvider): string {
    const token = (this.init.token ?? zeroAddress).toLowerCase()
    return `${this.init.identity.key}:${provider.payoutAddress.toLowerCase()}:${provider.providerPeer}:${token}`
  }

  /** Open, deposited, not closing, and with `needed` left after what this renter already authorised. */
  private async usable(channelId: Hex, needed: bigint, options: AbortOptions): Promise<boolean> {
    try {
      const state = await getChannel(
        this.components.publicClient,
        { contract: this.init.identity.contract, channelId },
        options,
      )
      const authorised = this.components.sender?.channelTotal(channelId) ?? 0n
      const spent = authorised > state.settled ? authorised : state.settled
      return state.deposit > 0n && state.closeRequestedAt === 0n && state.deposit - spent >= needed
    } catch (err) {
      if (!(err instanceof ChannelNotOpenError)) throw err
      log('known channel %s no longer exists: forgetting it', channelId)
      await this.update((f) => {
        for (const [k, ids] of Object.entries(f.channels)) f.channels[k] = ids.filter((id) => id !== channelId)
      })
      return false
    }
  }

  private async openKeyed(
    provider: ChannelProvider,
    key: string,
    options: AcquireOptions,
  ): Promise<OpenChannelReturnType> {
    const { wallet, publicClient } = this.components
    const token = this.init.token ?? zeroAddress
    await this.checkBalance(options.deposit, options)
    const fromBlock = await getBlockNumber(publicClient)
    const pending: PendingOpen = {
      key,
      payoutAddress: provider.payoutAddress,
      providerNode: provider.providerNode,
      token,
      amount: options.deposit.toString(),
      fromBlock: fromBlock.toString(),
      createdAt: Date.now(),
    }
    await this.update((f) => {
      f.pending.push(pending)
    })
    options.onProgress?.({ type: 'channel:opening', payoutAddress: provider.payoutAddress, deposit: options.deposit })
    const opened = await openChannel(
      wallet,
      {
        contract: this.init.identity.contract,
        provider: provider.payoutAddress,
        providerNode: provider.providerNode,
        amount: options.deposit,
        ...(this.init.token != null ? { token: this.init.token } : {}),
      },
      {
        ...options,
        onSent: async (hash) => {
          await this.update((f) => {
            const p = f.pending.find((x) => x.createdAt === pending.createdAt && x.key === key)
            if (p != null) p.transactionHash = hash
          })
        },
      },
    )
    await this.remember(key, opened.channelId, pending)
    options.onProgress?.({
      type: 'channel:opened',
      payoutAddress: provider.payoutAddress,
      channelId: opened.channelId,
      deposit: opened.deposit,
      transactionHash: opened.transactionHash,
    })
    return opened
  }

  /** The renter can pay `deposit` (and gas): otherwise say so now, not as a provider failure later. */
  private async checkBalance(deposit: bigint, options: AbortOptions): Promise<void> {
    const { publicClient, wallet } = this.components
    const me = wallet.account.address
    const native = await getBalance(publicClient, { address: me })
    if (this.init.token == null) {
      if (native < deposit) {
        throw new InsufficientBalanceError(
          `Account ${me} holds ${native} wei; a channel needs a deposit of ${deposit} wei plus gas`,
        )
      }
      return
    }
    options.signal?.throwIfAborted()
    const balance = await readContract(publicClient, {
      address: this.init.token,
      abi: erc20Abi,
      functionName: 'balanceOf',
      args: [me],
    })
    if (balance < deposit) {
      throw new InsufficientBalanceError(
        `Account ${me} holds ${balance} of token ${this.init.token}; a channel needs a deposit of ${deposit}`,
      )
    }
    if (native === 0n) throw new InsufficientBalanceError(`Account ${me} has no native coin to pay gas`)
  }

  /** The channel a pending open created, found by its transaction or by the renter's ChannelOpened events. */
  private async findOpened(open: PendingOpen, options: AbortOptions): Promise<Hex | undefined> {
    const listed = await listChannels(
      this.components.publicClient,
      {
        contract: this.init.identity.contract,
        account: this.components.wallet.account.address,
        fromBlock: BigInt(open.fromBlock),
      },
      options,
    )
    const known = new Set(Object.values((await this.read()).channels).flat())
    const match = listed.find(
      (c) =>
        c.role === 'renter' &&
        (open.transactionHash == null || c.transactionHash === open.transactionHash) &&
        isAddressEqual(c.provider, open.payoutAddress) &&
        c.providerNode.toLowerCase() === open.providerNode.toLowerCase() &&
        isAddressEqual(c.token, open.token) &&
        !known.has(c.channelId),
    )
    return match?.channelId
  }

  private async remember(key: string, channelId: Hex, settles?: PendingOpen): Promise<void> {
    await this.update((f) => {
      const ids = f.channels[key] ?? []
      if (!ids.includes(channelId)) ids.push(channelId)
      f.channels[key] = ids
      if (settles != null) f.pending = f.pending.filter((p) => !(p.key === key && p.createdAt === settles.createdAt))
    })
  }

  private async read(): Promise<ChannelsFile> {
    try {
      const parsed = JSON.parse(await readFile(this.file, 'utf8')) as Partial<ChannelsFile>
      // A file from before channels were kept per chain identity holds nothing usable here.
      return {
        channels: typeof parsed.channels === 'object' && parsed.channels != null ? parsed.channels : {},
        pending: Array.isArray(parsed.pending) ? parsed.pending : [],
      }
    } catch {
      return { channels: {}, pending: [] }
    }
  }

  /** Read, change and durably rewrite the file (a pending open is on disk before its transaction is sent). */
  private update(change: (file: ChannelsFile) => void): Promise<void> {
    const run = this.updating.then(async () => {
      const file = await this.read()
      change(file)
      await mkdir(dirname(this.file), { recursive: true })
      await writeFileDurable(this.file, `${JSON.stringify(file, null, 2)}\n`)
    })
    this.updating = run.catch(() => {})
    return run
  }
}
