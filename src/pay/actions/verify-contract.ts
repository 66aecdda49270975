import type { AbortOptions } from '@libp2p/interface'
import type { Address, Client, Hex } from 'viem'
import { getBlock, getCode } from 'viem/actions'
import { MIN_CHALLENGE_PERIOD_SECONDS } from '../constants.js'
import { PAYMENT_CHANNEL_IMMUTABLE_RANGES, PAYMENT_CHANNEL_RUNTIME_BYTECODE } from '../contract/artifact.js'
import { ChallengePeriodTooShortError, UnknownContractError } from '../errors.js'
import { getChallengePeriod } from './get-channel.js'
import { toPayError, withSignal } from './internal.js'

/** Which chain and contract payment state belongs to: a chain that was reset gets a new identity. */
export interface ChainIdentity {
  chainId: number
  contract: Address
  /** The hash of block 0: a dev chain restarted (or any other chain) has another one. */
  genesisHash: Hex
  /** `<chainId>-<contract prefix>-<genesis prefix>`: the folder name payment state is kept under. */
  key: string
}

export interface VerifyPaymentContractParameters {
  contract: Address
  /** Refuse a deployment whose challenge window is shorter; default the contract's own floor (1 hour). */
  minChallengePeriod?: bigint
}

export interface VerifyPaymentContractReturnType extends ChainIdentity {
  challengePeriod: bigint
}

/** `code` with the bytes of every immutable zeroed, as solc leaves them in the runtime bytecode. */
function maskImmutables(code: Hex): string {
  const hex = code.slice(2).toLowerCase().split('')
  for (const { start, length } of PAYMENT_CHANNEL_IMMUTABLE_RANGES) {
    for (let i = start * 2; i < (start + length) * 2 && i < hex.length; i++) hex[i] = '0'
  }
  return hex.join('')
}

/**
 * Check that `contract` on this chain is parkbench's PaymentChannel, exactly the committed bytecode (immutables
 * aside), with a challenge window of at least `minChallengePeriod`; and return the chain's identity. A provider
 * serving on any other contract could be paid in proofs that never settle.
 *
 * Throws {@link UnknownContractError} (no code, or other code) or {@link ChallengePeriodTooShortError}.
 *
 * @example
 * const { key, challengePeriod } = await verifyPaymentContract(publicClient, { contract: chain.contract })
 */
export async function verifyPaymentContract(
  client: Client,
  params: VerifyPaymentContractParameters,
  options: AbortOptions = {},
): Promise<VerifyPaymentContractReturnType> {
  let code: Hex | undefined
  let genesisHash: Hex
  let chainId: number
  try {
    const [c, genesis] = await withSignal(
      Promise.all([getCode(client, { address: params.contract }), getBlock(client, { blockNumber: 0n })]),
      options,
    )
    code = c
    genesisHash = genesis.hash
    chainId = client.chain?.id ?? 0
  } catch (err) {
    throw toPayError(err)
  }
  if (code == null || code === '0x') {
    throw new UnknownContractError(`No contract at ${params.contract} on chain ${chainId} (was the chain reset?)`)
  }
  if (maskImmutables(code) !== maskImmutables(PAYMENT_CHANNEL_RUNTIME_BYTECODE)) {
    throw new UnknownContractError(
      `The contract at ${params.contract} on chain ${chainId} is not parkbench's PaymentChannel (its code differs)`,
    )
  }
  const challengePeriod = await getChallengePeriod(client, { contract: params.contract }, options)
  const min = params.minChallengePeriod ?? MIN_CHALLENGE_PERIOD_SECONDS
  if (challengePeriod < min) {
    throw new ChallengePeriodTooShortError(
      `The contract at ${params.contract} has a ${challengePeriod} s challenge period; this node needs at least ${min} s`,
    )
  }
  return { ...chainIdentityOf(chainId, params.contract, genesisHash), challengePeriod }
}

/** The identity of a chain and contract (see {@link ChainIdentity}). */
export function chainIdentityOf(chainId: number, contract: Address, genesisHash: Hex): ChainIdentity {
  return {
    chainId,
    contract,
    genesisHash,
    key: `${chainId}-${contract.slice(2, 18).toLowerCase()}-${genesisHash.slice(2, 18).toLowerCase()}`,
  }
}
