import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { type Hex, parseEther } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { type ComputeService, createCompute } from '../../src/compute/index.js'
import { createLeaseProvider, type LeaseProvider, type LeaseProviderInit } from '../../src/lease/index.js'
import { createNode, type ParkbenchNode } from '../../src/net/index.js'
import { openChannel } from '../../src/pay/actions/open-channel.js'
import type { ChannelStateCache } from '../../src/pay/channel-state-cache.js'
import { createPayWalletClient } from '../../src/pay/clients.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import type { PaymentReceiver } from '../../src/pay/payment-receiver.js'
import { createPaymentSender, type PaymentSender } from '../../src/pay/payment-sender.js'
import { openProviderPayments } from '../../src/pay/payment-state.js'
import { createPaymentStore, type PaymentStore } from '../../src/pay/payment-store.js'
import { providerNodeId } from '../../src/pay/provider-node.js'
import { addModel } from '../compute/onnx-builder.js'

export const PRICE = 1_000n

export interface ProviderSide {
  node: ParkbenchNode
  privateKey: PrivateKey
  account: ReturnType<typeof privateKeyToAccount>
  store: PaymentStore
  channels: ChannelStateCache
  receiver: PaymentReceiver
  leases: LeaseProvider
  compute: ComputeService
  modelSha256: string
  stop(): Promise<void>
}

export interface RenterSide {
  node: ParkbenchNode
  account: ReturnType<typeof privateKeyToAccount>
  store: PaymentStore
  sender: PaymentSender
  openChannel(amount?: bigint): Promise<Hex>
  stop(): Promise<void>
}

/** A real provider: libp2p node, compute with a real ONNX model, payment receiver on the dev chain, leases. */
export async function startProvider(
  chain: DevChain,
  accountIndex: number,
  init: Partial<LeaseProviderInit> = {},
): Promise<ProviderSide> {
  const account = privateKeyToAccount(chain.accounts[accountIndex]!.privateKey)
  const privateKey = await generateKeyPair('Ed25519')
  const node = await createNode({ privateKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
  const dataDir = await mkdtemp(join(tmpdir(), 'pb-lease-provider-'))
  const providerNode = providerNodeId(node.peerId.toMultihash().bytes)
  const payments = await openProviderPayments({
    chain,
    account,
    providerNode,
    storeDir: join(dataDir, 'payments'),
  })
  const { store, channels, receiver } = payments
  let compute: ComputeService | undefined
  const leases = createLeaseProvider(
    { node, privateKey, receiver, channels, models: { has: async (sha) => compute!.store.has(sha) } },
    {
      payoutAddress: account.address,
      providerNode,
      pricePerSecond: PRICE,
      threads: 2,
      maxLeaseSeconds: 60,
      ...init,
    },
  )
  await leases.start()
  compute = createCompute(node, { dataDir, admit: leases.admit, workers: 1 })
  await compute.start()
  const record = await compute.store.add(addModel(), { name: 'add.onnx' })
  return {
    node,
    privateKey,
    account,
    store,
    channels,
    receiver,
    leases,
    compute,
    modelSha256: record.sha256,
    async stop() {
      await leases.stop()
      await compute!.stop()
      await payments.stop()
      await node.stop()
    },
  }
}

export async function startRenter(chain: DevChain, accountIndex: number, provider: ProviderSide): Promise<RenterSide> {
  const account = privateKeyToAccount(chain.accounts[accountIndex]!.privateKey)
  const node = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  await node.peerStore.merge(provider.node.peerId, { multiaddrs: provider.node.getMultiaddrs() })
  const dataDir = await mkdtemp(join(tmpdir(), 'pb-lease-renter-'))
  const store = await createPaymentStore({ path: join(dataDir, 'payments') })
  const sender = createPaymentSender(
    { store, account },
    { chainId: chain.chainId, contract: chain.contract, voucherEveryTicks: 2 },
  )
  await sender.start()
  const wallet = createPayWalletClient(chain, account)
  return {
    node,
    account,
    store,
    sender,
    async openChannel(amount = parseEther('0.001')) {
      const { channelId } = await openChannel(wallet, {
        contract: chain.contract,
        provider: provider.account.address,
        providerNode: providerNodeId(provider.node.peerId.toMultihash().bytes),
        amount,
      })
      return channelId
    },
    async stop() {
      await sender.stop()
      await node.stop()
      await store.stop()
    },
  }
}

export { type DevChain, startDevChain }
