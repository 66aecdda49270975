import type { AbortOptions } from '@libp2p/interface'
import { type Address, type Hex, zeroAddress } from 'viem'
import type { PayWalletClient } from '../clients.js'
import { PAYMENT_CHANNEL_ABI } from '../contract/artifact.js'
import { getChannel } from './get-channel.js'
import { findEvent, writeAndWait } from './internal.js'
import { ensureAllowance } from './open-channel.js'

export interface TopUpChannelParameters {
  contract: Address
  channelId: Hex
  amount: bigint
}

export interface TopUpChannelReturnType {
  /** The channel's deposit after the top-up. */
  deposit: bigint
  transactionHash: Hex
  gasUsed: bigint
}

/**
 * Add `amount` to an open channel's deposit (renter only; not while closing).
 *
 * @example
 * const { deposit } = await topUpChannel(walletClient, { contract, channelId, amount: 1_000n })
 */
export async function topUpChannel(
  client: PayWalletClient,
  params: TopUpChannelParameters,
  options: AbortOptions = {},
): Promise<TopUpChannelReturnType> {
  const channel = await getChannel(client, params, options)
  const native = channel.token === zeroAddress
  if (!native) await ensureAllowance(client, { token: channel.token, spender: params.contract, amount: params.amount })
  const receipt = await writeAndWait(
    client,
    {
      address: params.contract,
      abi: PAYMENT_CHANNEL_ABI,
      functionName: 'topUp',
      args: [params.channelId, params.amount],
      ...(native ? { value: params.amount } : {}),
    },
    options,
  )
  const event = findEvent(receipt, params.contract, 'ChannelToppedUp')
  return { deposit: event.deposit as bigint, transactionHash: receipt.transactionHash, gasUsed: receipt.gasUsed }
}
