import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { type Hex, isAddressEqual, type LocalAccount } from 'viem'
import { getCode } from 'viem/actions'
import { withSignal } from './actions/internal.js'
import { type ChainIdentity, verifyPaymentContract } from './actions/verify-contract.js'
import type { ChainConfig } from './chain-config.js'
import { ChannelStateCache } from './channel-state-cache.js'
import { createPayPublicClient, createPayWalletClient, type PayPublicClient } from './clients.js'
import { createPaymentReceiver, type PaymentReceiver, type PaymentReceiverInit } from './payment-receiver.js'
import { createPaymentSender, type PaymentSender, type PaymentSenderInit } from './payment-sender.js'
import { createPaymentStore, type PaymentStore } from './payment-store.js'
import { createSettler, type Settler, type SettlerInit } from './settler.js'

const log = logger('parkbench:pay:state')

/**
 * Payment state kept for a chain other than the one in use: a dev chain that was restarted, or a store from before
 * state was kept per chain. Never used (its channels do not exist here), never deleted (it may still be money on
 * the chain it came from).
 */
export interface EarlierPaymentState {
  path: string
  /** One line for the user. */
  message: string
}

export interface PaymentStateInit {
  chain: ChainConfig
  /** The folder whose `<chain identity>/` subfolder holds the store (`<dataDir>/payments` or `renter-payments`). */
  storeDir: string
  /** Refuse a contract whose challenge window is shorter (default: the contract's floor, 1 hour). */
  minChallengePeriod?: bigint
  /** fsync every batch (default true); only a benchmark turns it off. */
  sync?: boolean
}

interface OpenedState {
  identity: ChainIdentity
  challengePeriod: bigint
  publicClient: PayPublicClient
  store: PaymentStore
  earlier: EarlierPaymentState[]
}

/** What each store folder records about the chain it belongs to. */
const IDENTITY_FILE = 'identity.json'

/** Other chains' state folders looked at, at most, when opening one. */
const MAX_EARLIER_CHECKED = 16

/**
 * State folders beside this chain's that belong to an earlier incarnation of it: the same chain id and contract
 * with another genesis, or a contract that has no code on this chain any more (a restarted dev chain).
 */
async function findEarlier(
  init: PaymentStateInit,
  identity: ChainIdentity,
  client: PayPublicClient,
  options: AbortOptions,
): Promise<EarlierPaymentState[]> {
  const earlier: EarlierPaymentState[] = []
  if (existsSync(join(init.storeDir, 'CURRENT'))) {
    earlier.push({
      path: init.storeDir,
      message: `Payment state from an earlier parkbench (not kept per chain) is in ${init.storeDir} and is not used`,
    })
  }
  const entries = (await readdir(init.storeDir, { withFileTypes: true })).filter(
    (e) => e.isDirectory() && e.name !== identity.key && e.name.startsWith(`${identity.chainId}-`),
  )
  for (const entry of entries.slice(0, MAX_EARLIER_CHECKED)) {
    const path = join(init.storeDir, entry.name)
    let recorded: ChainIdentity
    try {
      recorded = JSON.parse(await readFile(join(path, IDENTITY_FILE), 'utf8')) as ChainIdentity
    } catch {
      continue
    }
    if (isAddressEqual(recorded.contract, identity.contract)) {
      earlier.push({
        path,
        message: `The chain at ${init.chain.rpcUrl} was reset (genesis ${identity.genesisHash.slice(0, 18)}... is new): payment state of the earlier chain is kept in ${path} and not used`,
      })
      continue
    }
    const code = await withSignal(getCode(client, { address: recorded.contract }), options).catch(() => 'unknown')
    if (code == null || code === '0x') {
      earlier.push({
        path,
        message: `Contract ${recorded.contract} no longer exists on chain ${identity.chainId} (was the chain reset?): its payment state is kept in ${path} and not used`,
      })
    }
  }
  return earlier
}

/** Verify the contract, find earlier chains' state beside this one, and open this chain's store. */
async function openState(init: PaymentStateInit, options: AbortOptions): Promise<OpenedState> {
  const publicClient = createPayPublicClient(init.chain)
  const verified = await verifyPaymentContract(
    publicClient,
    {
      contract: init.chain.contract,
      ...(init.minChallengePeriod != null ? { minChallengePeriod: init.minChallengePeriod } : {}),
    },
    options,
  )
  const { challengePeriod, ...identity } = verified
  await mkdir(init.storeDir, { recursive: true })
  const earlier = await findEarlier(init, identity, publicClient, options)
  for (const e of earlier) log(e.message)
  const path = join(init.storeDir, identity.key)
  const store = await createPaymentStore({ path, ...(init.sync != null ? { sync: init.sync } : {}) })
  if (!existsSync(join(path, IDENTITY_FILE))) {
    await writeFile(join(path, IDENTITY_FILE), `${JSON.stringify(identity, null, 2)}\n`)
  }
  return { identity, challengePeriod, publicClient, store, earlier }
}

export interface ProviderPaymentsInit extends PaymentStateInit {
  /** The provider's EVM account: channels must pay it; it sends settlements. */
  account: LocalAccount
  /** This node's id ({@link providerNodeId} of its peer id): channels must be bound to it. */
  providerNode: Hex
  receiver?: Pick<PaymentReceiverInit, 'hashFunctions' | 'maxTicks'>
  settler?: Omit<SettlerInit, 'contract'>
}

/** A provider's payment side, built once: what the daemon, the CLI and the tests all use. */
export interface ProviderPayments {
  identity: ChainIdentity
  challengePeriod: bigint
  store: PaymentStore
  channels: ChannelStateCache
  receiver: PaymentReceiver
  /** Created, not started: a daemon starts its loop, a one-shot command calls `settle()`. */
  settler: Settler
  earlier: EarlierPaymentState[]
  /** Stop the settler, the receiver and the store, in that order. */
  stop(): Promise<void>
}

/**
 * Open a provider's payment side: verify the chain's contract, open this chain's store, start the receiver, and
 * create the settler.
 *
 * @example
 * const payments = await openProviderPayments({ chain, account, providerNode, storeDir: join(dataDir, 'payments') })
 * await payments.settler.start()
 * ...
 * await payments.stop()
 */
export async function openProviderPayments(
  init: ProviderPaymentsInit,
  options: AbortOptions = {},
): Promise<ProviderPayments> {
  const state = await openState(init, options)
  const { store, identity } = state
  try {
    const channels = new ChannelStateCache(
      { client: state.publicClient, refreshClient: createPayPublicClient(init.chain, { batch: true }) },
      { contract: init.chain.contract },
    )
    const receiver = createPaymentReceiver(
      { store, channels },
      {
        chainId: init.chain.chainId,
        contract: init.chain.contract,
        provider: init.account.address,
        providerNode: init.providerNode,
        ...init.receiver,
      },
    )
    await receiver.start()
    const settler = createSettler(
      { receiver, store, channels, wallet: createPayWalletClient(init.chain, init.account) },
      {
        contract: init.chain.contract,
        ...(init.chain.deployBlock != null ? { fromBlock: BigInt(init.chain.deployBlock) } : {}),
        ...init.settler,
      },
    )
    return {
      identity,
      challengePeriod: state.challengePeriod,
      store,
      channels,
      receiver,
      settler,
      earlier: state.earlier,
      async stop() {
        await settler.stop()
        await receiver.stop()
        await store.stop()
      },
    }
  } catch (err) {
    await store.stop()
    throw err
  }
}

export interface RenterPaymentsInit extends PaymentStateInit {
  account: LocalAccount
  sender?: Omit<PaymentSenderInit, 'chainId' | 'contract'>
}

export interface RenterPayments {
  identity: ChainIdentity
  store: PaymentStore
  sender: PaymentSender
  earlier: EarlierPaymentState[]
  stop(): Promise<void>
}

/**
 * Open a renter's payment side: verify the chain's contract (a renter deposits into it), open this chain's store
 * and start the sender.
 *
 * @example
 * const payments = await openRenterPayments({ chain, account, storeDir: join(dataDir, 'renter-payments') })
 */
export async function openRenterPayments(
  init: RenterPaymentsInit,
  options: AbortOptions = {},
): Promise<RenterPayments> {
  const state = await openState(init, options)
  const { store } = state
  try {
    const sender = createPaymentSender(
      { store, account: init.account },
      { chainId: init.chain.chainId, contract: init.chain.contract, ...init.sender },
    )
    await sender.start()
    return {
      identity: state.identity,
      store,
      sender,
      earlier: state.earlier,
      async stop() {
        await sender.stop()
        await store.stop()
      },
    }
  } catch (err) {
    await store.stop()
    throw err
  }
}
