import { type Address, type Client, zeroAddress } from 'viem'
import { getTokenUnits } from '../pay/actions/get-token-units.js'
import {
  formatAmount,
  formatRate,
  NATIVE_UNITS,
  parseAmount,
  parseRate,
  type TokenUnits,
  tokenUnits,
} from '../pay/amounts.js'
import type { ChainConfig } from '../pay/chain-config.js'
import { createPayPublicClient } from '../pay/clients.js'
import { type ParsedArgs, stringFlag } from './command.js'

/** How a command describes an amount flag in --help. */
export const AMOUNT_HELP = 'e.g. 0.01ETH, 2.5 USDC; a plain integer is base units'
export const RATE_HELP = 'e.g. 10gwei/s, 0.036 USDC/h, 5e-6 ETH/s; a plain integer is base units per second'

/** True when a flag value needs the token's decimals to be read (anything but a plain integer of base units). */
export function needsUnits(value: string | undefined): boolean {
  return value != null && !/^\s*\d+\s*$/.test(value)
}

/** Read an amount flag in these token units (or base units), or throw InvalidAmountError. */
export function amountFlag(args: ParsedArgs, name: string, units: TokenUnits): bigint | undefined {
  const value = stringFlag(args, name)
  return value == null ? undefined : parseAmount(value, units, `--${name}`)
}

/** Read a per-second rate flag in these token units (or base units per second), or throw InvalidAmountError. */
export function rateFlag(args: ParsedArgs, name: string, units: TokenUnits): bigint | undefined {
  const value = stringFlag(args, name)
  return value == null ? undefined : parseRate(value, units, `--${name}`)
}

/**
 * The units of `token` (null or the zero address: the native coin). An ERC-20's are read from `chain` when it is
 * the token's chain; elsewhere they are unknown (undefined) and amounts print in base units.
 */
export async function unitsOfToken(
  token: string | null | undefined,
  where: { chain?: ChainConfig | undefined; chainId?: number | string | undefined; client?: Client },
  options: { signal?: AbortSignal } = {},
): Promise<TokenUnits | undefined> {
  if (token == null || token.toLowerCase() === zeroAddress) return NATIVE_UNITS
  const { chain } = where
  if (chain == null || (where.chainId != null && String(where.chainId) !== String(chain.chainId))) return undefined
  return getTokenUnits(where.client ?? createPayPublicClient(chain), { token: token as Address }, options)
}

// A symbol from an offer is anyone's string: print only what tokenUnits keeps.
const of = (symbol: string | undefined): string =>
  symbol == null || symbol === '' ? '' : ` of ${tokenUnits(symbol, 0).symbol}`

/** An amount for a person: `1.2 ETH`, or `N base units` when the token's decimals are unknown. */
export function showAmount(value: bigint | string | number, units: TokenUnits | undefined, symbol?: string): string {
  if (units == null) return `${value} base units${of(symbol)}`
  return formatAmount(BigInt(value), units)
}

/** A per-second rate for a person: `10 gwei/s (0.000036 ETH/h)`, or `N base units/s` when units are unknown. */
export function showRate(perSecond: bigint | string | number, units: TokenUnits | undefined, symbol?: string): string {
  if (units == null) return `${perSecond} base units/s${of(symbol)}`
  return formatRate(BigInt(perSecond), units)
}

/** A gas cost: always the native coin. */
export function showGas(wei: bigint | string | number): string {
  return formatAmount(BigInt(wei), NATIVE_UNITS)
}

/**
 * Units of each token a command meets on one chain, read once each; a token that cannot be read (RPC down, not a
 * contract) is shown in base units rather than failing the command.
 */
export function unitsOnChain(client: Client, options: { signal?: AbortSignal } = {}) {
  const known = new Map<string, Promise<TokenUnits | undefined>>()
  return (token: string | null | undefined): Promise<TokenUnits | undefined> => {
    const key = (token ?? zeroAddress).toLowerCase()
    let units = known.get(key)
    if (units == null) {
      units =
        key === zeroAddress
          ? Promise.resolve(NATIVE_UNITS)
          : getTokenUnits(client, { token: key as Address }, options).catch(() => undefined)
      known.set(key, units)
    }
    return units
  }
}
