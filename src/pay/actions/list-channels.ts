import type { AbortOptions } from '@libp2p/interface'
import type { Address, Client, Hex } from 'viem'
import { getContractEvents } from 'viem/actions'
import { PAYMENT_CHANNEL_ABI } from '../contract/artifact.js'
import { toPayError, withSignal } from './internal.js'

export interface ListChannelsParameters {
  contract: Address
  /** Channels where this account is the renter or the provider. */
  account: Address
  /** Where to start scanning logs (the deploy block); default 0. */
  fromBlock?: bigint | undefined
}

export interface ListedChannel {
  channelId: Hex
  role: 'renter' | 'provider'
  renter: Address
  provider: Address
  /** The provider node the channel is bound to. */
  providerNode: Hex
  token: Address
  blockNumber: bigint
  transactionHash: Hex
}

export type ListChannelsReturnType = ListedChannel[]

/**
 * Every channel ever opened with `account` as renter or provider, from the ChannelOpened logs (withdrawn ones
 * included: read each with getChannel).
 *
 * @example
 * const channels = await listChannels(publicClient, { contract, account: me.address, fromBlock: 0n })
 */
export async function listChannels(
  client: Client,
  params: ListChannelsParameters,
  options: AbortOptions = {},
): Promise<ListChannelsReturnType> {
  const out: ListedChannel[] = []
  const fromBlock = params.fromBlock ?? 0n
  try {
    for (const role of ['renter', 'provider'] as const) {
      const logs = await withSignal(
        getContractEvents(client, {
          address: params.contract,
          abi: PAYMENT_CHANNEL_ABI,
          eventName: 'ChannelOpened',
          args: role === 'renter' ? { renter: params.account } : { provider: params.account },
          fromBlock,
          toBlock: 'latest',
        }),
        options,
      )
      for (const log of logs) {
        const args = log.args as {
          channelId: Hex
          renter: Address
          provider: Address
          providerNode: Hex
          token: Address
        }
        out.push({ ...args, role, blockNumber: log.blockNumber, transactionHash: log.transactionHash })
      }
    }
  } catch (err) {
    throw toPayError(err)
  }
  return out.sort((a, b) => Number(a.blockNumber - b.blockNumber))
}
