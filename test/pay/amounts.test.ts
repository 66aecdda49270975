import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { InvalidInputError } from '../../src/errors.js'
import {
  formatAmount,
  formatRate,
  formatUnits,
  InvalidAmountError,
  NATIVE_UNITS,
  parseAmount,
  parseRate,
  type TokenUnits,
  tokenUnits,
} from '../../src/pay/amounts.js'
import { MAX_AMOUNT } from '../../src/pay/constants.js'

/** Seeded: a failure replays with the same seed (fast-check prints it, with the shrunk case). */
const SEED = 1414
const RUNS = 500
const USDC: TokenUnits = { symbol: 'USDC', decimals: 6, native: false }
const ZERO_DECIMALS: TokenUnits = { symbol: 'PTS', decimals: 0, native: false }

function refused(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidAmountError, `expected InvalidAmountError, got ${String(err)}`)
    // A usage error: the CLI maps InvalidInputError to exit 2.
    assert.ok(err instanceof InvalidInputError)
    assert.equal(err.code, 'INVALID_AMOUNT')
    assert.equal(err.name, 'InvalidAmountError')
    return true
  })
}

describe('parseAmount and parseRate', () => {
  it('reads the forms the CLI documents, exactly', () => {
    assert.equal(parseRate('10gwei/s', NATIVE_UNITS), 10_000_000_000n)
    assert.equal(parseRate('10 gwei/s', NATIVE_UNITS), 10_000_000_000n)
    assert.equal(parseRate('36 gwei/h', NATIVE_UNITS), 10_000_000n)
    assert.equal(parseRate('0.036USDC/h', USDC), 10n)
    assert.equal(parseRate('0.036 USDC / hour', USDC), 10n)
    assert.equal(parseRate('0.6 usdc/min', USDC), 10_000n)
    assert.equal(parseRate('5e-6 ETH/s', NATIVE_UNITS), 5_000_000_000_000n)
    assert.equal(parseRate('5E-6eth/sec', NATIVE_UNITS), 5_000_000_000_000n)
    assert.equal(parseRate('86.4 gwei/day', NATIVE_UNITS), 1_000_000n)
    assert.equal(parseAmount('1.2ETH', NATIVE_UNITS), 1_200_000_000_000_000_000n)
    assert.equal(parseAmount('1.2 ETH', NATIVE_UNITS), 1_200_000_000_000_000_000n)
    assert.equal(parseAmount('.5 ether', NATIVE_UNITS), 500_000_000_000_000_000n)
    assert.equal(parseAmount('1e3 wei', NATIVE_UNITS), 1000n)
    assert.equal(parseAmount('2.5 USDC', USDC), 2_500_000n)
    assert.equal(parseAmount('0 ETH', NATIVE_UNITS), 0n)
  })

  it('takes plain integers as base units, as before (rates: per second)', () => {
    assert.equal(parseAmount('1000000000000000', NATIVE_UNITS), 1_000_000_000_000_000n)
    assert.equal(parseRate('777', NATIVE_UNITS), 777n)
    assert.equal(parseRate('777', USDC), 777n)
    assert.equal(parseRate('10 gwei', NATIVE_UNITS), 10_000_000_000n, 'a rate with no period is per second')
  })

  it('refuses a rate that is not a whole number of base units per second', () => {
    refused(() => parseRate('1 wei/h', NATIVE_UNITS))
    refused(() => parseRate('0.01 USDC/h', USDC)) // 10,000 base units an hour = 2.77... per second
    refused(() => parseAmount('0.0000001 USDC', USDC))
    refused(() => parseAmount('1.5 wei', NATIVE_UNITS))
    refused(() => parseAmount('1e-19 ETH', NATIVE_UNITS))
    refused(() => parseRate('1 PTS/min', ZERO_DECIMALS))
  })

  it("refuses another token's symbol, unknown units and periods", () => {
    refused(() => parseRate('0.036USDC/h', NATIVE_UNITS)) // USDC given on an ETH chain
    refused(() => parseRate('10gwei/s', USDC)) // gwei is the native coin's unit only
    refused(() => parseAmount('1 ETH', USDC))
    refused(() => parseAmount('1 DOGE', NATIVE_UNITS))
    refused(() => parseRate('1 gwei/fortnight', NATIVE_UNITS))
  })

  it('refuses what is not an amount', () => {
    for (const text of [
      '',
      ' ',
      'ETH',
      '-1',
      '-1 ETH',
      '1.2',
      '1e5',
      '1,5 ETH',
      '0x10',
      '1 2 ETH',
      '1 ETH/s/h',
      'NaN',
    ]) {
      refused(() => parseAmount(text, NATIVE_UNITS))
    }
    refused(() => parseAmount('1 ETH/s', NATIVE_UNITS)) // a rate where an amount is asked
    refused(() => parseAmount('1e9999 ETH', NATIVE_UNITS)) // bounded: never more than a channel holds
    assert.equal(parseAmount(MAX_AMOUNT.toString(), NATIVE_UNITS), MAX_AMOUNT)
    refused(() => parseAmount((MAX_AMOUNT + 1n).toString(), NATIVE_UNITS))
    // A price rides the wire as uint64: 2^64 would wrap to 0 and advertise it free.
    assert.equal(parseRate((2n ** 64n - 1n).toString(), NATIVE_UNITS), 2n ** 64n - 1n)
    refused(() => parseRate((2n ** 64n).toString(), NATIVE_UNITS))
    refused(() => parseRate('100 ETH/s', NATIVE_UNITS))
  })
})

describe('formatAmount and formatRate', () => {
  it('prints exact decimals with trailing zeros trimmed', () => {
    assert.equal(formatAmount(1_200_000_000_000_000_000n, NATIVE_UNITS), '1.2 ETH')
    assert.equal(formatAmount(10n ** 16n, NATIVE_UNITS), '0.01 ETH')
    assert.equal(formatAmount(10_000_000_000n, NATIVE_UNITS), '10 gwei')
    assert.equal(formatAmount(123_456_789_012n, NATIVE_UNITS), '123.456789012 gwei')
    assert.equal(formatAmount(1000n, NATIVE_UNITS), '1000 wei')
    assert.equal(formatAmount(0n, NATIVE_UNITS), '0 ETH')
    assert.equal(formatAmount(1n, NATIVE_UNITS, { unit: 'token' }), '0.000000000000000001 ETH')
    assert.equal(formatAmount(123_456_789_123_456_789_123n, NATIVE_UNITS), '123.456789123456789123 ETH')
    assert.equal(formatAmount(-2_500_000n, USDC), '-2.5 USDC')
    assert.equal(formatAmount(42n, ZERO_DECIMALS), '42 PTS')
    assert.equal(formatUnits(100n, 2), '1')
  })

  it('shows a rate per second and what an hour costs', () => {
    assert.equal(formatRate(10_000_000_000n, NATIVE_UNITS), '10 gwei/s (0.000036 ETH/h)')
    assert.equal(formatRate(10n, USDC), '0.00001 USDC/s (0.036 USDC/h)')
    assert.equal(formatRate(1000n, NATIVE_UNITS), '1000 wei/s (0.0036 gwei/h)')
  })

  it('makes a token symbol safe to print', () => {
    assert.deepEqual(tokenUnits('USDC', 6), USDC)
    assert.equal(tokenUnits('EV\u001b[31mIL\n', 18).symbol, 'EV31mIL') // no terminal escapes reach the screen
    assert.equal(tokenUnits(undefined, 18).symbol, 'TOKEN')
    assert.equal(tokenUnits('', 18).symbol, 'TOKEN')
    assert.equal(tokenUnits('USDC', undefined).decimals, 0)
    assert.equal(tokenUnits('USDC', 300).decimals, 0)
  })
})

describe('round trips (property-based)', () => {
  const unitsArbitrary: fc.Arbitrary<TokenUnits> = fc.oneof(
    fc.constant(NATIVE_UNITS),
    fc.record({
      symbol: fc.constantFrom('USDC', 'DAI', 'PBDEV', 'TOKEN', 'x'),
      decimals: fc.integer({ min: 0, max: 36 }),
      native: fc.constant(false),
    }),
  )
  const amountArbitrary = fc.bigInt({ min: 0n, max: MAX_AMOUNT })

  it('parse(format(x)) is x, for any amount and token: no precision lost', () => {
    fc.assert(
      fc.property(unitsArbitrary, amountArbitrary, fc.boolean(), (units, value, token) => {
        const text = formatAmount(value, units, token ? { unit: 'token' } : {})
        assert.equal(parseAmount(text, units), value, text)
        // Without spaces, as people type it on a command line.
        assert.equal(parseAmount(text.replace(' ', ''), units), value, text)
      }),
      { numRuns: RUNS, seed: SEED },
    )
  })

  it('a per-second rate survives being written per second, per minute or per hour', () => {
    fc.assert(
      fc.property(unitsArbitrary, fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (units, perSecond) => {
        assert.equal(parseRate(`${formatAmount(perSecond, units)}/s`, units), perSecond)
        assert.equal(parseRate(`${formatAmount(perSecond * 60n, units)}/min`, units), perSecond)
        const perHour = formatRate(perSecond, units).match(/\((.*)\/h\)$/)![1]!
        assert.equal(parseRate(`${perHour}/h`, units), perSecond)
        assert.equal(parseRate(`${formatAmount(perSecond * 86_400n, units)}/day`, units), perSecond)
      }),
      { numRuns: RUNS, seed: SEED },
    )
  })

  it('a rate is accepted exactly when it is a whole number of base units per second', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 20n }), fc.constantFrom(60n, 3600n), (perPeriod, seconds) => {
        const text = `${formatUnits(perPeriod, 6)} USDC/${seconds === 60n ? 'min' : 'h'}`
        if (perPeriod % seconds === 0n) assert.equal(parseRate(text, USDC), perPeriod / seconds)
        else refused(() => parseRate(text, USDC))
      }),
      { numRuns: RUNS, seed: SEED },
    )
  })

  it('scientific notation means the same as the decimal it stands for', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 10n }), fc.integer({ min: -18, max: 10 }), (mantissa, exponent) => {
        const scaled = exponent >= 0 ? mantissa * 10n ** BigInt(exponent + 18) : mantissa * 10n ** BigInt(18 + exponent)
        assert.equal(parseAmount(`${mantissa}e${exponent} ETH`, NATIVE_UNITS), scaled)
      }),
      { numRuns: RUNS, seed: SEED },
    )
  })
})
