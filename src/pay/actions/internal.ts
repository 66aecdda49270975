import type { AbortOptions } from '@libp2p/interface'
import {
  type Abi,
  BaseError,
  ContractFunctionRevertedError,
  decodeEventLog,
  type Hex,
  type Log,
  type TransactionReceipt,
} from 'viem'
import { waitForTransactionReceipt, writeContract } from 'viem/actions'
import type { PayWalletClient } from '../clients.js'
import { PAYMENT_CHANNEL_ABI } from '../contract/artifact.js'
import { ChainError, errorFromContractRevert, PayError } from '../errors.js'
import { getSettleFeesPerGas } from './estimate-settle.js'

/** A chain failure as a typed error: the contract's custom errors map to the same classes the off-chain checks use. */
export function toPayError(err: unknown): Error {
  if (err instanceof PayError) return err
  if (err instanceof BaseError) {
    const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError)
    if (reverted instanceof ContractFunctionRevertedError && reverted.data?.errorName != null) {
      return errorFromContractRevert(reverted.data.errorName, err)
    }
    return new ChainError(err.shortMessage, { cause: err })
  }
  if ((err as Error)?.name === 'AbortError') return err as Error
  return new ChainError((err as Error)?.message ?? String(err), { cause: err })
}

/** Race a promise against the caller's signal (viem takes no signals). */
export async function withSignal<T>(promise: Promise<T>, options: AbortOptions): Promise<T> {
  const signal = options.signal
  if (signal == null) return promise
  // A call abandoned on abort may still reject later: that rejection is nobody's to handle.
  promise.catch(() => {})
  signal.throwIfAborted()
  let onAbort: (() => void) | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        onAbort = () => reject(signal.reason)
        signal.addEventListener('abort', onAbort, { once: true })
      }),
    ])
  } finally {
    if (onAbort != null) signal.removeEventListener('abort', onAbort)
  }
}

export interface WriteRequest {
  address: Hex
  abi: Abi | readonly unknown[]
  functionName: string
  args: readonly unknown[]
  value?: bigint
  gas?: bigint
  maxFeePerGas?: bigint
  maxPriorityFeePerGas?: bigint
  gasPrice?: bigint
}

/**
 * The fees to send with: viem's estimate, which honours the chain config's tip (`maxPriorityFeePerGas`), passed
 * explicitly (viem would otherwise take the RPC's suggested tip, which on a no-tip rollup or dev chain can exceed
 * the fee cap).
 */
export async function feesToSend(
  client: PayWalletClient,
  options: AbortOptions = {},
): Promise<Pick<WriteRequest, 'maxFeePerGas' | 'maxPriorityFeePerGas' | 'gasPrice'>> {
  const fees = await getSettleFeesPerGas(client, options)
  return fees.type === 'eip1559'
    ? { maxFeePerGas: fees.maxFeePerGas, maxPriorityFeePerGas: fees.maxPriorityFeePerGas }
    : { gasPrice: fees.gasPrice }
}

/** Send a contract call and wait for its receipt. Gas is estimated first, so a revert throws before sending. */
export async function writeAndWait(
  client: PayWalletClient,
  request: WriteRequest,
  options: AbortOptions = {},
  onSent?: (hash: Hex) => void | Promise<void>,
): Promise<TransactionReceipt> {
  try {
    const fees = request.maxFeePerGas != null || request.gasPrice != null ? {} : await feesToSend(client, options)
    const hash = await withSignal(
      writeContract(client, { ...fees, ...request, account: client.account, chain: client.chain } as any),
      options,
    )
    await onSent?.(hash)
    const receipt = await withSignal(waitForTransactionReceipt(client, { hash, timeout: 120_000 }), options)
    if (receipt.status !== 'success') throw new ChainError(`Transaction ${hash} reverted`)
    return receipt
  } catch (err) {
    throw toPayError(err)
  }
}

/** The first PaymentChannel event named `eventName` in a receipt. */
export function findEvent(receipt: TransactionReceipt, contract: Hex, eventName: string): Record<string, any> {
  for (const log of receipt.logs as Log[]) {
    if (log.address.toLowerCase() !== contract.toLowerCase()) continue
    try {
      const decoded = decodeEventLog({ abi: PAYMENT_CHANNEL_ABI, data: log.data, topics: log.topics })
      if (decoded.eventName === eventName) return decoded.args as Record<string, any>
    } catch {
      // another contract's event
    }
  }
  throw new ChainError(`No ${eventName} event in transaction ${receipt.transactionHash}`)
}
