import type { AbortOptions } from '@libp2p/interface'
import { type Account, type Address, type Chain, type Client, Eip1559FeesNotSupportedError, type Transport } from 'viem'
import { estimateContractGas, estimateFeesPerGas, getGasPrice } from 'viem/actions'
import type { PaymentProof } from '../types.js'
import { toPayError, withSignal } from './internal.js'
import { type SettleGasLimits, settleCall } from './settle-channel.js'

/** What one unit of gas costs now: EIP-1559 fee caps, or a legacy gas price. */
export type SettleFeesPerGas =
  | { type: 'eip1559'; maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
  | { type: 'legacy'; gasPrice: bigint }

export interface EstimateSettleParameters {
  contract: Address
  proof: PaymentProof
  /** Fees already read for this decision (one read serves several proofs); default: read them now. */
  fees?: SettleFeesPerGas
}

export interface EstimateSettleReturnType {
  /** The settle call's gas, as eth_estimateGas answers for this exact proof from the client's account. */
  gas: bigint
  fees: SettleFeesPerGas
  /** The most one unit of gas may cost: maxFeePerGas, or the legacy gas price. */
  feePerGas: bigint
  /** gas x feePerGas, in wei: an upper bound of the fee when sent with {@link limits}. */
  cost: bigint
  /** Pass as `limits` to settleProof: the transaction then cannot cost more than `cost`. */
  limits: SettleGasLimits
}

type AccountClient = Client<Transport, Chain | undefined, Account>

/**
 * The current fee per gas: viem's EIP-1559 estimate (base fee x 1.2 + priority fee), or `eth_gasPrice` on a chain
 * without a base fee.
 *
 * @example
 * const fees = await getSettleFeesPerGas(providerWallet)
 */
export async function getSettleFeesPerGas(client: Client, options: AbortOptions = {}): Promise<SettleFeesPerGas> {
  try {
    // Checked before the call: withSignal would leave an already-aborted call's promise unhandled.
    options.signal?.throwIfAborted()
    const fees = await withSignal(estimateFeesPerGas(client, { type: 'eip1559', chain: client.chain }), options)
    return { type: 'eip1559', maxFeePerGas: fees.maxFeePerGas, maxPriorityFeePerGas: fees.maxPriorityFeePerGas }
  } catch (err) {
    if (!(err instanceof Eip1559FeesNotSupportedError)) throw toPayError(err)
  }
  try {
    options.signal?.throwIfAborted()
    return { type: 'legacy', gasPrice: await withSignal(getGasPrice(client), options) }
  } catch (err) {
    throw toPayError(err)
  }
}

/**
 * Estimate what settling a proof costs in wei: the exact settle/settleTicks call's gas times the current fee per gas.
 * A proof the contract would refuse (window over, already settled) throws the same typed error the send would.
 *
 * @example
 * const { cost, limits } = await estimateSettle(providerWallet, { contract, proof })
 * if (proof.total - settled > cost) await settleProof(providerWallet, { contract, proof }, { limits })
 */
export async function estimateSettle(
  client: AccountClient,
  params: EstimateSettleParameters,
  options: AbortOptions = {},
): Promise<EstimateSettleReturnType> {
  const fees = params.fees ?? (await getSettleFeesPerGas(client, options))
  let gas: bigint
  try {
    options.signal?.throwIfAborted()
    gas = await withSignal(
      // With the fees given, so that viem does not ask the node to fill them (anvil's filled tip can exceed the cap).
      estimateContractGas(client, {
        ...settleCall(params.contract, params.proof),
        ...(fees.type === 'eip1559'
          ? { maxFeePerGas: fees.maxFeePerGas, maxPriorityFeePerGas: fees.maxPriorityFeePerGas }
          : { gasPrice: fees.gasPrice }),
        account: client.account,
      } as any),
      options,
    )
  } catch (err) {
    throw toPayError(err)
  }
  const feePerGas = fees.type === 'eip1559' ? fees.maxFeePerGas : fees.gasPrice
  const limits: SettleGasLimits =
    fees.type === 'eip1559'
      ? { gas, maxFeePerGas: fees.maxFeePerGas, maxPriorityFeePerGas: fees.maxPriorityFeePerGas }
      : { gas, gasPrice: fees.gasPrice }
  return { gas, fees, feePerGas, cost: gas * feePerGas, limits }
}
