import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { applyHumanAmounts, takeHumanAmounts } from '../../src/cli/start-amounts.js'
import { type ConfigInput, resolveConfig } from '../../src/daemon/config.js'
import { InvalidAmountError } from '../../src/pay/amounts.js'
import type { ChainConfig } from '../../src/pay/chain-config.js'

// Native-coin amounts need no chain call (ETH is 18 decimals everywhere): this chain is never dialed.
const CHAIN: ChainConfig = {
  rpcUrl: 'http://127.0.0.1:1',
  chainId: 31337,
  contract: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
}

async function resolve(file: ConfigInput, flags: ConfigInput) {
  const human = takeHumanAmounts([
    { input: file, where: 'file' },
    { input: flags, where: 'flags' },
  ])
  const config = resolveConfig('/tmp/unused', file, flags)
  await applyHumanAmounts(config, human, CHAIN)
  return config
}

describe('start: human amounts from config.json and flags', () => {
  it('reads config.json amounts in human units too, and a flag overrides the file either way', async () => {
    const fromFile = await resolve(
      { offer: { pricePerSecond: '0.036ETH/h' }, pay: { settleThreshold: '0.001 ETH' } },
      {},
    )
    assert.equal(fromFile.offer.pricePerSecond, 10_000_000_000_000n)
    assert.equal(fromFile.pay.settleThreshold, 1_000_000_000_000_000n)
    const plainFlag = await resolve({ offer: { pricePerSecond: '0.036ETH/h' } }, { offer: { pricePerSecond: '777' } })
    assert.equal(plainFlag.offer.pricePerSecond, 777n)
    const humanFlag = await resolve({ offer: { pricePerSecond: '777' } }, { offer: { pricePerSecond: '10gwei/s' } })
    assert.equal(humanFlag.offer.pricePerSecond, 10_000_000_000n)
    const none = await resolve({}, {})
    assert.equal(none.offer.pricePerSecond, 1_000_000_000n, 'the default stays 1 gwei/s')
  })

  it('names where a bad amount was written', async () => {
    await assert.rejects(resolve({ offer: { pricePerSecond: '1 wei/h' } }, {}), (err: unknown) => {
      assert.ok(err instanceof InvalidAmountError)
      assert.match(err.message, /^offer\.pricePerSecond /)
      return true
    })
    // Base units too: 2^64 wei/s would wrap to 0 on the wire.
    await assert.rejects(resolve({}, { offer: { pricePerSecond: (2n ** 64n).toString() } }), InvalidAmountError)
    await assert.rejects(resolve({}, { pay: { settleThreshold: '1 USDC' } }), (err: unknown) => {
      assert.ok(err instanceof InvalidAmountError)
      assert.match(err.message, /^--settle-threshold /)
      return true
    })
  })
})
