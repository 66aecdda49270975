import type { AbortOptions } from '@libp2p/interface'
import type { Address, Client, Hex } from 'viem'
import { readContract } from 'viem/actions'
import { PAYMENT_CHANNEL_ABI } from '../contract/artifact.js'
import { ChannelNotOpenError } from '../errors.js'
import type { ChannelState } from '../types.js'
import { toPayError, withSignal } from './internal.js'

export interface GetChannelParameters {
  contract: Address
  channelId: Hex
}

export type GetChannelReturnType = ChannelState

const challengePeriods = new Map<string, Promise<bigint>>()

/**
 * The contract's challenge window in seconds (immutable per deployment, so cached per contract).
 *
 * @example
 * const seconds = await getChallengePeriod(publicClient, { contract })
 */
export async function getChallengePeriod(
  client: Client,
  params: { contract: Address },
  options: AbortOptions = {},
): Promise<bigint> {
  const key = `${client.chain?.id}:${params.contract.toLowerCase()}`
  let period = challengePeriods.get(key)
  if (period == null) {
    period = readContract(client, {
      address: params.contract,
      abi: PAYMENT_CHANNEL_ABI,
      functionName: 'challengePeriod',
    })
    challengePeriods.set(key, period)
    period.catch(() => challengePeriods.delete(key))
  }
  try {
    return await withSignal(period, options)
  } catch (err) {
    throw toPayError(err)
  }
}

/**
 * Read a channel's on-chain state. Throws {@link ChannelNotOpenError} if it does not exist (or was withdrawn).
 *
 * @example
 * const { deposit, settled, closeRequestedAt } = await getChannel(publicClient, { contract, channelId })
 */
export async function getChannel(
  client: Client,
  params: GetChannelParameters,
  options: AbortOptions = {},
): Promise<GetChannelReturnType> {
  let raw: {
    renter: Address
    closeRequestedAt: bigint
    provider: Address
    providerNode: Hex
    token: Address
    deposit: bigint
    settled: bigint
  }
  try {
    raw = await withSignal(
      readContract(client, {
        address: params.contract,
        abi: PAYMENT_CHANNEL_ABI,
        functionName: 'getChannel',
        args: [params.channelId],
      }),
      options,
    )
  } catch (err) {
    throw toPayError(err)
  }
  if (/^0x0{40}$/.test(raw.renter)) throw new ChannelNotOpenError(`Channel ${params.channelId} is not open`)
  const closeDeadline =
    raw.closeRequestedAt === 0n ? 0n : raw.closeRequestedAt + (await getChallengePeriod(client, params, options))
  return {
    channelId: params.channelId,
    renter: raw.renter,
    provider: raw.provider,
    providerNode: raw.providerNode,
    token: raw.token,
    deposit: raw.deposit,
    settled: raw.settled,
    closeRequestedAt: raw.closeRequestedAt,
    closeDeadline,
  }
}
