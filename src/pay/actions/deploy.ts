import type { AbortOptions } from '@libp2p/interface'
import { type Address, getAddress, type Hex } from 'viem'
import { deployContract, waitForTransactionReceipt } from 'viem/actions'
import type { PayWalletClient } from '../clients.js'
import { MIN_CHALLENGE_PERIOD_SECONDS } from '../constants.js'
import {
  DEV_TOKEN_ABI,
  DEV_TOKEN_BYTECODE,
  PAYMENT_CHANNEL_ABI,
  PAYMENT_CHANNEL_BYTECODE,
} from '../contract/artifact.js'
import { ChainError, ChallengePeriodTooShortError } from '../errors.js'
import { feesToSend, toPayError, withSignal } from './internal.js'

export interface DeployReturnType {
  address: Address
  transactionHash: Hex
  blockNumber: bigint
  gasUsed: bigint
}

async function deployed(client: PayWalletClient, hash: Hex, options: AbortOptions): Promise<DeployReturnType> {
  const receipt = await withSignal(waitForTransactionReceipt(client, { hash, timeout: 120_000 }), options)
  if (receipt.status !== 'success' || receipt.contractAddress == null) throw new ChainError(`Deploy ${hash} failed`)
  return {
    address: getAddress(receipt.contractAddress),
    transactionHash: hash,
    blockNumber: receipt.blockNumber,
    gasUsed: receipt.gasUsed,
  }
}

export interface DeployPaymentChannelParameters {
  /** Seconds of the renter-exit challenge window. */
  challengePeriod: bigint
}

/**
 * Deploy PaymentChannel.sol (the committed bytecode) on any EVM chain.
 *
 * @example
 * const { address } = await deployPaymentChannel(walletClient, { challengePeriod: 86_400n })
 */
export async function deployPaymentChannel(
  client: PayWalletClient,
  params: DeployPaymentChannelParameters,
  options: AbortOptions = {},
): Promise<DeployReturnType> {
  // The constructor reverts below its floor; say so before spending gas (viem cannot decode a constructor's error).
  if (params.challengePeriod < MIN_CHALLENGE_PERIOD_SECONDS) {
    throw new ChallengePeriodTooShortError(
      `A challenge period of ${params.challengePeriod} s is below the contract's minimum of ${MIN_CHALLENGE_PERIOD_SECONDS} s`,
    )
  }
  try {
    const fees = await feesToSend(client, options)
    const hash = await withSignal(
      deployContract(client, {
        ...(fees as object),
        abi: PAYMENT_CHANNEL_ABI,
        bytecode: PAYMENT_CHANNEL_BYTECODE,
        args: [params.challengePeriod],
        account: client.account,
        chain: client.chain,
      } as Parameters<typeof deployContract>[1]),
      options,
    )
    return await deployed(client, hash, options)
  } catch (err) {
    throw toPayError(err)
  }
}

export interface DeployDevTokenParameters {
  name?: string
  symbol?: string
}

/**
 * Deploy the dev ERC-20 (anyone may mint: dev chains and tests only).
 *
 * @example
 * const { address: token } = await deployDevToken(walletClient, {})
 */
export async function deployDevToken(
  client: PayWalletClient,
  params: DeployDevTokenParameters = {},
  options: AbortOptions = {},
): Promise<DeployReturnType> {
  try {
    const fees = await feesToSend(client, options)
    const hash = await withSignal(
      deployContract(client, {
        ...(fees as object),
        abi: DEV_TOKEN_ABI,
        bytecode: DEV_TOKEN_BYTECODE,
        args: [params.name ?? 'Parkbench Dev Token', params.symbol ?? 'PBDEV'],
        account: client.account,
        chain: client.chain,
      } as Parameters<typeof deployContract>[1]),
      options,
    )
    return await deployed(client, hash, options)
  } catch (err) {
    throw toPayError(err)
  }
}
