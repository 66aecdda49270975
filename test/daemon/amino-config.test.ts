import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type ConfigInput, resolveConfig } from '../../src/daemon/config.js'
import { InvalidInputError } from '../../src/errors.js'

describe('daemon config: amino', () => {
  it('is off unless asked for; true takes the defaults (public bootstrap list, client, public addresses)', () => {
    assert.equal(resolveConfig('/tmp/x').amino, undefined)
    assert.equal(resolveConfig('/tmp/x', { amino: false }).amino, undefined)
    assert.deepEqual(resolveConfig('/tmp/x', { amino: true }).amino, {})
  })

  it('takes its own bootstrap list, mode and address scope, and refuses anything else', () => {
    const amino = {
      bootstrap: ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW'],
      server: 'auto' as const,
      addressScope: 'all' as const,
    }
    assert.deepEqual(resolveConfig('/tmp/x', { amino }).amino, amino)
    const bad: unknown[] = [{ server: 'yes' }, { addressScope: 'private' }, { bootstrap: 'one' }, 'on']
    for (const value of bad) {
      assert.throws(
        () => resolveConfig('/tmp/x', { amino: value } as ConfigInput),
        (err: Error) => err instanceof InvalidInputError,
        JSON.stringify(value),
      )
    }
  })
})
