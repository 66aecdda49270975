import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { NoProviderError } from '../../src/client/errors.js'
import { failureReason } from '../../src/swarm/metrics.js'

describe('failureReason', () => {
  it('names a failure by its code, or by its class with a numeric code after it', () => {
    assert.equal(failureReason(new NoProviderError('none')), 'NO_PROVIDER')
    assert.equal(failureReason(Object.assign(new Error('x'), { code: 'ECONNRESET' })), 'ECONNRESET')
    // A JSON-RPC error's code is a number: the report must not show a bare "23".
    class RpcError extends Error {
      override name = 'RpcError'
      code = 23
    }
    assert.equal(failureReason(new RpcError('x')), 'RpcError:23')
    assert.equal(failureReason(new TypeError('x')), 'TypeError')
    assert.equal(failureReason(undefined), 'Error')
  })
})
