import type { AbortOptions } from '@libp2p/interface'
import type { Address, Hex } from 'viem'
import type { PayWalletClient } from '../clients.js'
import { PAYMENT_CHANNEL_ABI } from '../contract/artifact.js'
import { findEvent, writeAndWait } from './internal.js'

export interface RequestCloseParameters {
  contract: Address
  channelId: Hex
}

export interface RequestCloseReturnType {
  /** Unix seconds after which the renter may withdraw; until then the provider may settle its best proof. */
  deadline: bigint
  transactionHash: Hex
}

/**
 * Start a renter exit: opens the challenge window (renter only).
 *
 * @example
 * const { deadline } = await requestClose(renterWallet, { contract, channelId })
 */
export async function requestClose(
  client: PayWalletClient,
  params: RequestCloseParameters,
  options: AbortOptions = {},
): Promise<RequestCloseReturnType> {
  const receipt = await writeAndWait(
    client,
    { address: params.contract, abi: PAYMENT_CHANNEL_ABI, functionName: 'requestClose', args: [params.channelId] },
    options,
  )
  const event = findEvent(receipt, params.contract, 'CloseRequested')
  return { deadline: event.deadline as bigint, transactionHash: receipt.transactionHash }
}

export interface WithdrawChannelParameters {
  contract: Address
  channelId: Hex
}

export interface WithdrawChannelReturnType {
  /** What went back to the renter: deposit minus settled. */
  refund: bigint
  transactionHash: Hex
}

/**
 * After the challenge window: refund the unspent deposit to the renter and delete the channel (renter only).
 *
 * @example
 * const { refund } = await withdrawChannel(renterWallet, { contract, channelId })
 */
export async function withdrawChannel(
  client: PayWalletClient,
  params: WithdrawChannelParameters,
  options: AbortOptions = {},
): Promise<WithdrawChannelReturnType> {
  const receipt = await writeAndWait(
    client,
    { address: params.contract, abi: PAYMENT_CHANNEL_ABI, functionName: 'withdraw', args: [params.channelId] },
    options,
  )
  const event = findEvent(receipt, params.contract, 'ChannelWithdrawn')
  return { refund: event.refund as bigint, transactionHash: receipt.transactionHash }
}
