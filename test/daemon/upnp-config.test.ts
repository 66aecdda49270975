import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { type ConfigInput, resolveConfig } from '../../src/daemon/config.js'
import { InvalidInputError } from '../../src/errors.js'
import { createNode } from '../../src/net/index.js'

describe('UPnP port mapping (reach.upnp)', () => {
  it('is off unless asked for; true searches the LAN; gateways name the router and skip the search', () => {
    assert.equal(resolveConfig('/tmp/x').reach.upnp, false)
    assert.equal(resolveConfig('/tmp/x', { reach: { upnp: false } }).reach.upnp, false)
    assert.deepEqual(resolveConfig('/tmp/x', { reach: { upnp: true } }).reach.upnp, {})
    const gateways = ['http://192.168.1.1:5000/rootDesc.xml']
    assert.deepEqual(resolveConfig('/tmp/x', { reach: { upnp: { gateways } } }).reach.upnp, { gateways })
  })

  it('refuses a gateway that is not an http:// descriptor URL, naming it', () => {
    const bad: unknown[] = [
      'on',
      { gateways: 'http://192.168.1.1/' },
      { gateways: ['192.168.1.1:5000'] },
      { gateways: ['file:///etc/passwd'] },
      { gateways: Array.from({ length: 9 }, (_, i) => `http://10.0.0.${i}/d.xml`) },
    ]
    for (const upnp of bad) {
      assert.throws(
        () => resolveConfig('/tmp/x', { reach: { upnp } } as ConfigInput),
        (err: Error) => err instanceof InvalidInputError && /reach\.upnp/.test(err.message),
        JSON.stringify(upnp),
      )
    }
  })

  it('a router that does not answer costs nothing: the node starts, maps nothing and keeps running', async () => {
    // A descriptor URL on loopback where nothing listens: no multicast search, no traffic off this machine.
    const node = await createNode({
      listen: ['/ip4/127.0.0.1/tcp/0'],
      upnp: { gateways: ['http://127.0.0.1:1/rootDesc.xml'] },
    })
    try {
      assert.ok('upnp' in node.services)
      await sleep(1_500)
      assert.equal(node.status, 'started')
      assert.ok(node.getMultiaddrs().every((a) => a.toString().startsWith('/ip4/127.0.0.1/')))
    } finally {
      await node.stop()
    }
    const plain = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    try {
      assert.equal('upnp' in plain.services, false)
    } finally {
      await plain.stop()
    }
  })
})
