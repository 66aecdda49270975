import type { AbortOptions } from '@libp2p/interface'
import { type Address, erc20Abi, type Hex, zeroAddress } from 'viem'
import { readContract } from 'viem/actions'
import type { PayWalletClient } from '../clients.js'
import { PAYMENT_CHANNEL_ABI } from '../contract/artifact.js'
import { findEvent, toPayError, withSignal, writeAndWait } from './internal.js'

export interface OpenChannelParameters {
  contract: Address
  provider: Address
  /**
   * The provider node the channel is bound to: {@link providerNodeId} of its peer id. Only that node accepts
   * payments on the channel, so nodes sharing one payout address never share a channel's counter.
   */
  providerNode: Hex
  /** An ERC-20; omit (or the zero address) for native ETH. */
  token?: Address | undefined
  /** Deposit in token base units (wei for ETH). */
  amount: bigint
}

export interface OpenChannelReturnType {
  channelId: Hex
  /** What the contract credited (less than `amount` only for fee-on-transfer tokens). */
  deposit: bigint
  transactionHash: Hex
  gasUsed: bigint
}

/**
 * Approve `amount` of an ERC-20 for the contract if the current allowance is lower (one extra transaction).
 */
export async function ensureAllowance(
  client: PayWalletClient,
  params: { token: Address; spender: Address; amount: bigint },
  options: AbortOptions = {},
): Promise<void> {
  let allowance: bigint
  try {
    allowance = await withSignal(
      readContract(client, {
        address: params.token,
        abi: erc20Abi,
        functionName: 'allowance',
        args: [client.account.address, params.spender],
      }),
      options,
    )
  } catch (err) {
    throw toPayError(err)
  }
  if (allowance >= params.amount) return
  await writeAndWait(
    client,
    { address: params.token, abi: erc20Abi, functionName: 'approve', args: [params.spender, params.amount] },
    options,
  )
}

export interface OpenChannelOptions extends AbortOptions {
  /** Called with the open transaction's hash once sent, before its receipt (a renter records pending opens). */
  onSent?: (hash: Hex) => void | Promise<void>
}

/**
 * Open a channel from the client's account (the renter) to `provider`, funded with `amount` of ETH or an ERC-20.
 * For an ERC-20 it first approves the contract if needed.
 *
 * @example
 * const providerNode = providerNodeId(peerId.toMultihash().bytes)
 * const { channelId } = await openChannel(walletClient, { contract, provider, providerNode, amount: parseEther('0.1') })
 */
export async function openChannel(
  client: PayWalletClient,
  params: OpenChannelParameters,
  options: OpenChannelOptions = {},
): Promise<OpenChannelReturnType> {
  const token = params.token ?? zeroAddress
  const native = token === zeroAddress
  if (!native) await ensureAllowance(client, { token, spender: params.contract, amount: params.amount }, options)
  const receipt = await writeAndWait(
    client,
    {
      address: params.contract,
      abi: PAYMENT_CHANNEL_ABI,
      functionName: 'open',
      args: [params.provider, params.providerNode, token, params.amount],
      ...(native ? { value: params.amount } : {}),
    },
    options,
    options.onSent,
  )
  const event = findEvent(receipt, params.contract, 'ChannelOpened')
  return {
    channelId: event.channelId as Hex,
    deposit: event.deposit as bigint,
    transactionHash: receipt.transactionHash,
    gasUsed: receipt.gasUsed,
  }
}
