import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DEFAULT_CONNECTION_LIMITS } from '../../src/net/create-node.js'
import { IN_PROCESS_SUBSTITUTIONS } from '../../src/swarm/report-build.js'

describe('what an in-process report says it substituted', () => {
  it('names the connection limit swarm members run with: the daemon default', () => {
    const settings = IN_PROCESS_SUBSTITUTIONS.find((s) => s.startsWith('libp2p settings'))
    assert.ok(settings !== undefined)
    assert.match(settings, new RegExp(`connection limit of a daemon \\(${DEFAULT_CONNECTION_LIMITS.maxConnections};`))
  })
})
