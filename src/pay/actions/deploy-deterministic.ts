import type { AbortOptions } from '@libp2p/interface'
import { type Address, encodeDeployData, getAddress, getContractAddress, type Hex, keccak256, toHex } from 'viem'
import { getCode, sendTransaction, waitForTransactionReceipt } from 'viem/actions'
import type { PayWalletClient } from '../clients.js'
import { MIN_CHALLENGE_PERIOD_SECONDS } from '../constants.js'
import { PAYMENT_CHANNEL_ABI, PAYMENT_CHANNEL_BYTECODE } from '../contract/artifact.js'
import { ChainError, ChallengePeriodTooShortError } from '../errors.js'
import { feesToSend, toPayError, withSignal } from './internal.js'

/**
 * The deterministic deployment proxy (Arachnid's, `0x4e59...956C`): deployed by a presigned transaction at the
 * same address on nearly every EVM chain (and built into anvil). A contract it creates with CREATE2 has an address
 * that depends only on the salt and the init code, so the same on every chain.
 */
export const DETERMINISTIC_DEPLOYER: Address = getAddress('0x4e59b44847b379578588920ca78fbf26c0b4956c')

/** The salt of parkbench's PaymentChannel deployments. */
export const PAYMENT_CHANNEL_SALT: Hex = keccak256(toHex('parkbench/PaymentChannel/v1'))

export interface DeterministicPaymentChannelParameters {
  /** Seconds of the renter-exit challenge window (part of the init code, so of the address). */
  challengePeriod: bigint
  /** Default {@link PAYMENT_CHANNEL_SALT}. */
  salt?: Hex
}

/** The PaymentChannel's init code: the committed bytecode and its constructor argument. */
export function paymentChannelInitCode(challengePeriod: bigint): Hex {
  return encodeDeployData({ abi: PAYMENT_CHANNEL_ABI, bytecode: PAYMENT_CHANNEL_BYTECODE, args: [challengePeriod] })
}

/** Where {@link deployPaymentChannelDeterministic} puts the contract, on any chain, computed offline. */
export function deterministicPaymentChannelAddress(params: DeterministicPaymentChannelParameters): Address {
  return getContractAddress({
    opcode: 'CREATE2',
    from: DETERMINISTIC_DEPLOYER,
    salt: params.salt ?? PAYMENT_CHANNEL_SALT,
    bytecode: paymentChannelInitCode(params.challengePeriod),
  })
}

export interface DeployDeterministicReturnType {
  address: Address
  /** False when the contract was there already (nothing was sent). */
  deployed: boolean
  transactionHash?: Hex
  blockNumber?: bigint
}

/**
 * Deploy PaymentChannel through the deterministic deployment proxy, where it is missing: the same address on
 * every chain ({@link deterministicPaymentChannelAddress}), so a network preset can ship it before anyone deploys.
 * Throws a ChainError when the chain has no proxy.
 *
 * @example
 * const { address, deployed } = await deployPaymentChannelDeterministic(walletClient, { challengePeriod: 3600n })
 */
export async function deployPaymentChannelDeterministic(
  client: PayWalletClient,
  params: DeterministicPaymentChannelParameters,
  options: AbortOptions = {},
): Promise<DeployDeterministicReturnType> {
  if (params.challengePeriod < MIN_CHALLENGE_PERIOD_SECONDS) {
    throw new ChallengePeriodTooShortError(
      `A challenge period of ${params.challengePeriod} s is below the contract's minimum of ${MIN_CHALLENGE_PERIOD_SECONDS} s`,
    )
  }
  const address = deterministicPaymentChannelAddress(params)
  try {
    const present = await withSignal(getCode(client, { address }), options)
    if (present != null && present !== '0x') return { address, deployed: false }
    const proxy = await withSignal(getCode(client, { address: DETERMINISTIC_DEPLOYER }), options)
    if (proxy == null || proxy === '0x') {
      throw new ChainError(
        `This chain has no deterministic deployment proxy at ${DETERMINISTIC_DEPLOYER}: deploy it first (its presigned transaction is published with it), or use \`parkbench chain deploy --rpc-url\` without --network`,
      )
    }
    const fees = await feesToSend(client, options)
    const data =
      `${params.salt ?? PAYMENT_CHANNEL_SALT}${paymentChannelInitCode(params.challengePeriod).slice(2)}` as Hex
    const hash = await withSignal(
      sendTransaction(client, {
        ...(fees as object),
        account: client.account,
        chain: client.chain,
        to: DETERMINISTIC_DEPLOYER,
        data,
      } as Parameters<typeof sendTransaction>[1]),
      options,
    )
    const receipt = await withSignal(waitForTransactionReceipt(client, { hash, timeout: 120_000 }), options)
    const code = await withSignal(getCode(client, { address }), options)
    if (receipt.status !== 'success' || code == null || code === '0x') {
      throw new ChainError(`The deterministic deployment ${hash} did not create PaymentChannel at ${address}`)
    }
    return { address, deployed: true, transactionHash: hash, blockNumber: receipt.blockNumber }
  } catch (err) {
    throw toPayError(err)
  }
}
