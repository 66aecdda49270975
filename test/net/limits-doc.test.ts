import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { CONTROL_LIMITS } from '../../src/daemon/control.js'
import { LEASE_LIMITS } from '../../src/lease/constants.js'
import { OFFER_PROTOCOL_LIMITS } from '../../src/market/constants.js'
import { OFFER_LIMITS } from '../../src/market/offer.js'
import {
  DEFAULT_CONNECTION_LIMITS,
  DEFAULT_RELAY_SERVER_LIMITS,
  HOLE_PUNCH_DEFAULTS,
  HOLE_PUNCH_LIMITS,
  KAD_LIMITS,
} from '../../src/net/index.js'
import { REPO_ROOT } from '../helpers/cli.js'

const n = (value: number): string => value.toLocaleString('en-US')
const kib = (bytes: number): string => (bytes >= 2 ** 20 ? `${bytes / 2 ** 20} MiB` : `${bytes / 1024} KiB`)

/** The first table row, after `heading`, whose first cell starts with `label`: its second cell. */
function cellOf(readme: string, heading: string, label: string): string {
  const at = readme.indexOf(heading)
  assert.ok(at >= 0, `protocols/README.md has no "${heading}"`)
  const row = readme
    .slice(at)
    .split('\n')
    .find((r) => r.startsWith(`| ${label}`))
  assert.ok(row !== undefined, `no row "${label}" under "${heading}"`)
  return row.split('|')[2]!.trim()
}

describe('the documented limits are the ones the code sets', () => {
  it('protocols/README.md "Limits a peer meets" and the control API table hold the numbers in the code', async () => {
    const readme = await readFile(join(REPO_ROOT, 'protocols', 'README.md'), 'utf8')
    const peers = (label: string): string => cellOf(readme, '### Limits a peer meets', label)
    const c = DEFAULT_CONNECTION_LIMITS
    assert.equal(peers('connections (libp2p'), n(c.maxConnections))
    assert.equal(peers('inbound connections per second'), n(c.inboundConnectionThreshold))
    assert.equal(peers('connections in their noise'), n(c.maxIncomingPendingConnections))
    assert.equal(peers('streams per connection, all protocols'), n(c.maxInboundStreamsPerConnection))
    const k = KAD_LIMITS
    assert.equal(
      peers('kad messages per peer'),
      `${n(k.messagesPerWindow)} per ${k.windowSeconds} s, all its streams and connections`,
    )
    assert.equal(peers('kad bytes per peer'), `${kib(k.bytesPerWindow)} per ${k.windowSeconds} s`)
    assert.equal(
      peers('provider records'),
      `${n(k.providersPerPeer)} per providing peer, ${n(k.providersPerKey)} per key, ${n(k.providers)} in all`,
    )
    assert.equal(
      peers('addresses from ADD_PROVIDER'),
      `${k.addressesPerProvider} per record, no new ones past ${k.addressesPerPeer} per peer`,
    )
    const o = OFFER_PROTOCOL_LIMITS
    assert.equal(peers('offer streams per connection'), n(o.maxInboundStreams))
    assert.equal(
      peers('offer exchanges at once'),
      `${o.maxStreamsPerPeer} per peer (over all its connections), ${o.maxStreams} in all`,
    )
    assert.equal(
      peers('offer request'),
      `${kib(o.maxRequestBytes)}, ${o.timeoutMs / 1000} s from stream open to the response written`,
    )
    const l = LEASE_LIMITS
    assert.equal(peers('lease streams per connection'), n(l.maxInboundStreams))
    assert.equal(
      peers('lease negotiations at once'),
      `${l.maxNegotiationsPerPeer} per peer, ${l.maxNegotiations} in all`,
    )
    assert.equal(peers('lease frame / unread bytes'), `${kib(l.maxMessageBytes)} / ${kib(l.maxBufferedBytes)}`)
    assert.ok(readme.includes(`${OFFER_LIMITS.maxDims} dims per input or output shape`))

    const relay = (label: string): string => cellOf(readme, '## Reachability and relays', label)
    const r = DEFAULT_RELAY_SERVER_LIMITS
    assert.equal(relay('reservations'), n(r.maxReservations))
    assert.equal(relay('reservation lifetime'), `${r.reservationTtlMs / 3_600_000} h`)
    assert.equal(relay('relayed connections per dialing connection'), n(r.maxConnectionsPerDialer))
    assert.equal(relay('relayed connections into one reserved peer'), n(r.maxConnectionsPerTarget))
    assert.equal(relay('duration per relayed connection'), `${r.durationMs / 3_600_000} h`)
    assert.equal(relay('bytes per relayed connection'), `${Number(r.bytes) / 2 ** 30} GiB, both directions together`)

    const punch = (label: string): string => cellOf(readme, '| hole punch limit |', label)
    const d = HOLE_PUNCH_DEFAULTS
    assert.equal(punch('message'), `${n(HOLE_PUNCH_LIMITS.maxMessageBytes)} B (the spec's)`)
    assert.equal(punch('one exchange'), `${d.timeoutMs / 1000} s`)
    assert.ok(punch('exchanges B tries').startsWith(`${d.attempts} `))
    assert.equal(punch('punches per peer'), `${d.maxAttemptsPerPeer} per ${d.attemptWindowMs / 60_000} min`)
    assert.equal(punch('punches at once'), n(d.maxConcurrent))
    assert.ok(punch('addresses read').startsWith(`the first ${HOLE_PUNCH_LIMITS.maxAddresses};`))

    const control = (label: string): string => cellOf(readme, '## Daemon control API', label)
    assert.equal(control('request body'), kib(CONTROL_LIMITS.maxBodyBytes))
    assert.equal(
      control('one request, headers and body together'),
      `${CONTROL_LIMITS.requestTimeoutMs / 1000} s from its connection (checked every ${CONTROL_LIMITS.deadlineCheckMs} ms)`,
    )
    assert.equal(control('connections at once'), n(CONTROL_LIMITS.maxConnections))
  })
})
