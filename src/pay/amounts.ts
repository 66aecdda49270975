import { InvalidInputError } from '../errors.js'
import { MAX_AMOUNT } from './constants.js'

/**
 * Amounts people can read: `10gwei/s`, `0.036 USDC/h`, `1.2 ETH`, `5e-6 ETH/s` parsed exactly into token base
 * units (bigint), and base units formatted back as exact decimals (no floats anywhere: a float cannot hold 18
 * decimals). A plain integer is base units, as every flag took before.
 */

/** What a chain's payment token is called and how many decimals one whole token has. */
export interface TokenUnits {
  /** e.g. `ETH`, `USDC`; display and parsing only. */
  symbol: string
  decimals: number
  /** Whether this is the chain's native coin (then `wei` and `gwei` are units too). */
  native: boolean
}

/** The native coin of every chain parkbench knows (Ethereum and its rollups). */
export const NATIVE_UNITS: TokenUnits = Object.freeze({ symbol: 'ETH', decimals: 18, native: true })

/** An amount or rate that does not parse, has a unit of another token, or is not a whole number of base units. */
export class InvalidAmountError extends InvalidInputError {
  static override name = 'InvalidAmountError'
  // A usage error (the CLI exits 2) with its own code, so callers and tests can tell it from other bad input.
  override readonly code: string = 'INVALID_AMOUNT'
}

/** The wire carries a price per second as uint64 (offers, quotes, lease requests): no rate can be more. */
export const MAX_PRICE_PER_SECOND = 2n ** 64n - 1n

const PERIOD_SECONDS: Record<string, bigint> = {
  s: 1n,
  sec: 1n,
  second: 1n,
  m: 60n,
  min: 60n,
  minute: 60n,
  h: 3600n,
  hr: 3600n,
  hour: 3600n,
  d: 86_400n,
  day: 86_400n,
}

// number, optional unit, optional /period; spaces allowed around each part.
const AMOUNT_PATTERN =
  /^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:e([+-]?[0-9]{1,4}))?\s*([A-Za-z$][A-Za-z0-9$._-]*)?\s*(?:\/\s*([A-Za-z]+))?\s*$/i

/** The decimals a unit name stands for with these token units, or undefined when it is not theirs. */
function unitDecimals(unit: string, units: TokenUnits): number | undefined {
  const lower = unit.toLowerCase()
  if (lower === units.symbol.toLowerCase()) return units.decimals
  if (units.native) {
    if (lower === 'wei') return 0
    if (lower === 'gwei') return 9
    if (lower === 'ether') return 18
  }
  return undefined
}

function periodSeconds(period: string): bigint | undefined {
  const lower = period.toLowerCase()
  return PERIOD_SECONDS[lower] ?? PERIOD_SECONDS[lower.replace(/s$/, '')]
}

interface Parsed {
  /** The value as digits / 10^scale, in base units before the period: exact. */
  numerator: bigint
  denominator: bigint
  period: bigint | undefined
}

function parse(text: string, units: TokenUnits, what: string): Parsed {
  const match = AMOUNT_PATTERN.exec(text)
  if (match == null) {
    throw new InvalidAmountError(
      `${what} "${text}" is not an amount: write base units (e.g. 1000) or a number and a unit (e.g. 1.5 ${units.symbol}${units.native ? ', 10 gwei' : ''})`,
    )
  }
  const [, number, exponent, unit, period] = match as unknown as [string, string, string?, string?, string?]
  const [whole, fraction = ''] = number.split('.')
  let decimals = 0
  if (unit != null) {
    const d = unitDecimals(unit, units)
    if (d == null) {
      throw new InvalidAmountError(
        `${what} "${text}": ${unit} is not this chain's token (${units.symbol}${units.native ? ', wei or gwei' : ''})`,
      )
    }
    decimals = d
  } else if (fraction !== '' || exponent != null) {
    // A bare decimal could mean base units or whole tokens: make the user say which.
    throw new InvalidAmountError(
      `${what} "${text}" needs a unit (e.g. ${number} ${units.symbol}); plain integers are base units`,
    )
  }
  // digits * 10^(exponent + decimals - fraction length), kept as an exact fraction.
  const digits = BigInt(`${whole || '0'}${fraction}`)
  const scale = Number(exponent ?? 0) + decimals - fraction.length
  const numerator = scale >= 0 ? digits * 10n ** BigInt(scale) : digits
  const denominator = scale >= 0 ? 1n : 10n ** BigInt(-scale)
  let seconds: bigint | undefined
  if (period != null) {
    seconds = periodSeconds(period)
    if (seconds == null) throw new InvalidAmountError(`${what} "${text}": per ${period}? Use /s, /min, /h or /day`)
  }
  return { numerator, denominator, period: seconds }
}

function exact(numerator: bigint, denominator: bigint, text: string, what: string, units: TokenUnits): bigint {
  if (numerator % denominator !== 0n) {
    throw new InvalidAmountError(
      `${what} "${text}" is not a whole number of base units (1 ${units.symbol} = 10^${units.decimals}): ${formatFraction(numerator, denominator)} would be rounded`,
    )
  }
  const value = numerator / denominator
  if (value > MAX_AMOUNT) throw new InvalidAmountError(`${what} "${text}" is more than a channel can hold`)
  return value
}

function formatFraction(numerator: bigint, denominator: bigint): string {
  const whole = numerator / denominator
  // Show a few digits past the point, enough to see why it is not whole.
  const rest = ((numerator % denominator) * 1000n) / denominator
  return `${whole}.${rest.toString().padStart(3, '0')}... base units`
}

/**
 * Parse an amount in these token units: `1.2ETH`, `1.2 ETH`, `10 gwei`, `5e-6 ETH`, or a plain integer of base
 * units. Throws {@link InvalidAmountError} for a rate, another token's symbol, or a fraction of a base unit.
 *
 * @example
 * parseAmount('1.2 ETH', NATIVE_UNITS) // 1_200_000_000_000_000_000n
 */
export function parseAmount(text: string, units: TokenUnits, what = 'Amount'): bigint {
  const parsed = parse(text, units, what)
  if (parsed.period != null)
    throw new InvalidAmountError(`${what} "${text}" is an amount, not a rate: drop the /period`)
  return exact(parsed.numerator, parsed.denominator, text, what, units)
}

/**
 * Parse a rate into base units per second: `10gwei/s`, `0.036 USDC/h`, `5e-6 ETH/s`; no period means per second,
 * and a plain integer is base units per second. Throws {@link InvalidAmountError} unless the rate is a whole
 * number of base units per second (`1 wei/h` is not).
 *
 * @example
 * parseRate('36 gwei/h', NATIVE_UNITS) // 10_000_000n (wei per second)
 */
export function parseRate(text: string, units: TokenUnits, what = 'Price'): bigint {
  const parsed = parse(text, units, what)
  const perSecond = exact(parsed.numerator, parsed.denominator * (parsed.period ?? 1n), text, what, units)
  // Larger would wrap around on the wire and advertise a tiny price.
  if (perSecond > MAX_PRICE_PER_SECOND) {
    throw new InvalidAmountError(
      `${what} "${text}" is more than a price can be (${formatAmount(MAX_PRICE_PER_SECOND, units)}/s)`,
    )
  }
  return perSecond
}

/** `value / 10^decimals` as an exact decimal string, trailing zeros trimmed: `1200000000000000000n, 18` -> `1.2`. */
export function formatUnits(value: bigint, decimals: number): string {
  const negative = value < 0n
  const abs = negative ? -value : value
  const base = 10n ** BigInt(decimals)
  const whole = abs / base
  const fraction = decimals === 0 ? '' : (abs % base).toString().padStart(decimals, '0').replace(/0+$/, '')
  return `${negative ? '-' : ''}${whole}${fraction === '' ? '' : `.${fraction}`}`
}

/**
 * An amount as a person reads it, exact: `1.2 ETH`; small native amounts in gwei or wei (`10 gwei`, `1000 wei`) so
 * they are not a row of zeros. `unit` forces the whole-token symbol.
 *
 * @example
 * formatAmount(10n ** 16n, NATIVE_UNITS) // '0.01 ETH'
 */
export function formatAmount(value: bigint, units: TokenUnits, options: { unit?: 'token' } = {}): string {
  const abs = value < 0n ? -value : value
  if (units.native && options.unit !== 'token' && abs !== 0n) {
    if (abs < 10n ** 6n) return `${value} wei`
    if (abs < 10n ** 15n) return `${formatUnits(value, 9)} gwei`
  }
  return `${formatUnits(value, units.decimals)} ${units.symbol}`
}

/**
 * A per-second rate as a person reads it, with what an hour costs: `10 gwei/s (0.000036 ETH/h)`.
 *
 * @example
 * formatRate(10n ** 10n, NATIVE_UNITS) // '10 gwei/s (0.000036 ETH/h)'
 */
export function formatRate(perSecond: bigint, units: TokenUnits): string {
  const perHour = perSecond * 3600n
  // An hour is what people budget in: whole tokens, unless that is a row of zeros (then gwei or wei).
  const hour = formatAmount(perHour, units, perHour >= 10n ** 12n ? { unit: 'token' } : {})
  return `${formatAmount(perSecond, units)}/s (${hour}/h)`
}

/** A token's units from what its contract said, made safe to print (a token's symbol is anyone's string). */
export function tokenUnits(symbol: string | undefined, decimals: number | undefined): TokenUnits {
  const clean = symbol?.replace(/[^A-Za-z0-9$._-]/g, '').slice(0, 16)
  return {
    symbol: clean == null || clean === '' || /^[0-9]/.test(clean) ? 'TOKEN' : clean,
    decimals: decimals != null && Number.isInteger(decimals) && decimals >= 0 && decimals <= 77 ? decimals : 0,
    native: false,
  }
}
