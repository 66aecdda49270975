import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { NoProviderError } from '../../src/client/errors.js'
import { AbortedError, ParkbenchError } from '../../src/errors.js'
import { errorAnswer, toGatewayError } from '../../src/gateway/oip-response.js'

const timeout = (): DOMException => new DOMException('The operation timed out.', 'TimeoutError')

describe('gateway errors: what a caller is told', () => {
  it('a request its deadline stopped is 504 TIMEOUT, thrown bare or typed by the renter client', () => {
    for (const err of [
      timeout(),
      new DOMException('This operation was aborted', 'AbortError'),
      new AbortedError('The request was stopped by its caller: its deadline passed', { cause: timeout() }),
    ]) {
      const e = toGatewayError(err)
      assert.equal(e.status, 504, String(err))
      assert.equal(e.code, 'TIMEOUT')
    }
  })

  it('any other parkbench error keeps its code (502), no provider is 503, anything else 500', () => {
    const other = toGatewayError(new ParkbenchError('lease refused', 'LEASE_REFUSED'))
    assert.equal(other.status, 502)
    assert.equal(other.code, 'LEASE_REFUSED')
    const aborted = toGatewayError(new AbortedError('stopped', { cause: new Error('shutting down') }))
    assert.equal(aborted.status, 502)
    assert.equal(aborted.code, 'ABORTED')
    assert.equal(toGatewayError(new NoProviderError('none', { attempts: [] })).status, 503)
    const answer = errorAnswer(new Error('boom'))
    assert.equal(answer.status, 500)
    assert.equal(JSON.parse(String(answer.body)).code, 'INTERNAL')
  })
})
