import type { AbortOptions } from '@libp2p/interface'
import {
  type Address,
  BaseError,
  type Client,
  ContractFunctionRevertedError,
  ContractFunctionZeroDataError,
  erc20Abi,
  hexToString,
  zeroAddress,
} from 'viem'
import { readContract } from 'viem/actions'
import { NATIVE_UNITS, type TokenUnits, tokenUnits } from '../amounts.js'
import { toPayError, withSignal } from './internal.js'

export interface GetTokenUnitsParameters {
  /** The ERC-20; undefined or the zero address is the chain's native coin. */
  token?: Address | undefined
}

export type GetTokenUnitsReturnType = TokenUnits

// Some early tokens (MKR, SAI) return their symbol as bytes32, not string.
const BYTES32_SYMBOL_ABI = [
  { type: 'function', name: 'symbol', stateMutability: 'view', inputs: [], outputs: [{ name: '', type: 'bytes32' }] },
] as const

// A token's symbol and decimals never change: one read per chain and token for the life of the process.
const cache = new Map<string, Promise<TokenUnits>>()

/** The contract has no such function (it reverted or returned nothing), as opposed to the RPC failing. */
function isMissingFunction(err: unknown): boolean {
  return (
    err instanceof BaseError &&
    err.walk((e) => e instanceof ContractFunctionZeroDataError || e instanceof ContractFunctionRevertedError) != null
  )
}

async function readSymbol(client: Client, token: Address): Promise<string | undefined> {
  try {
    return await readContract(client, { address: token, abi: erc20Abi, functionName: 'symbol' })
  } catch {
    // Not a string (or no symbol at all): the bytes32 read below tells which, and rethrows an RPC failure.
  }
  try {
    const raw = await readContract(client, { address: token, abi: BYTES32_SYMBOL_ABI, functionName: 'symbol' })
    return hexToString(raw, { size: 32 }).replace(/\0+$/, '')
  } catch (err) {
    // symbol() is optional in ERC-20: such a token is shown as TOKEN.
    if (isMissingFunction(err)) return undefined
    throw err
  }
}

async function readDecimals(client: Client, token: Address): Promise<number | undefined> {
  try {
    return await readContract(client, { address: token, abi: erc20Abi, functionName: 'decimals' })
  } catch (err) {
    // decimals() is optional too; an RPC failure is not "no decimals" (guessing would misprice by 10^18).
    if (isMissingFunction(err)) return undefined
    throw err
  }
}

/**
 * The symbol and decimals of the token a channel pays in: ETH (18) for the native coin, else what the ERC-20 says
 * (`symbol()`, `decimals()`; a token without `symbol()` is `TOKEN`, without `decimals()` 0). Cached per chain id and
 * token address.
 *
 * @example
 * const { symbol, decimals } = await getTokenUnits(publicClient, { token: chain.token })
 */
export async function getTokenUnits(
  client: Client,
  params: GetTokenUnitsParameters,
  options: AbortOptions = {},
): Promise<GetTokenUnitsReturnType> {
  const token = params.token
  if (token == null || token.toLowerCase() === zeroAddress) return NATIVE_UNITS
  const key = `${client.chain?.id}:${client.transport?.url ?? ''}:${token.toLowerCase()}`
  let units = cache.get(key)
  if (units == null) {
    units = Promise.all([readSymbol(client, token), readDecimals(client, token)]).then(([symbol, decimals]) =>
      tokenUnits(symbol, decimals),
    )
    cache.set(key, units)
    // A failed read (RPC down) is tried again next time.
    units.catch(() => cache.delete(key))
  }
  try {
    return await withSignal(units, options)
  } catch (err) {
    throw toPayError(err)
  }
}
