import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Connection } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { Tensor } from 'onnxruntime-node'
import { type ComputeService, createCompute, createInferClient, INFER_PROTOCOL } from '../../src/compute/index.js'
import { createNode, type ParkbenchNode } from '../../src/net/index.js'
import { addModel } from './onnx-builder.js'

// An infer stream opened on a relayed connection moves to a direct connection to the same provider once one exists
// (a hole punch made it), at a request boundary: nothing in flight is lost, and the next request runs direct. On
// loopback through a relay node; the direct connection here is a plain dial (the punch is tested in the NAT lab,
// test/daemon/nat-punch.test.ts).

const isRelayed = (c: Connection): boolean => c.remoteAddr.toString().includes('/p2p-circuit')

describe('an infer stream moves from a relayed connection to a direct one', () => {
  let relay: ParkbenchNode
  let provider: ParkbenchNode
  let renter: ParkbenchNode
  let compute: ComputeService
  let dataDir: string
  let model: string
  let relayedAddr: string

  before(async () => {
    relay = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], relay: { server: true } })
    const relayAddr = relay.getMultiaddrs()[0]!.toString()
    provider = await createNode({
      listen: ['/ip4/127.0.0.1/tcp/0', `${relayAddr}/p2p-circuit`],
      relay: { client: true },
    })
    renter = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], relay: { client: true } })
    dataDir = await mkdtemp(join(tmpdir(), 'pb-infer-direct-'))
    compute = createCompute(provider, { dataDir, freeMode: true, workers: 1 })
    await compute.start()
    model = (await compute.store.add(addModel())).sha256
    for (let i = 0; i < 100 && relayedAddr == null; i++) {
      relayedAddr = provider
        .getMultiaddrs()
        .map(String)
        .find((a) => a.includes('/p2p-circuit'))!
      if (relayedAddr == null) await sleep(50)
    }
    assert.ok(relayedAddr != null, 'the provider got no relayed address')
  })

  after(async () => {
    await compute?.stop()
    await Promise.all([renter?.stop(), provider?.stop(), relay?.stop()])
    if (dataDir != null) await rm(dataDir, { recursive: true, force: true })
  })

  it('runs on the relay first, then on the direct connection, losing no request in the switch', async () => {
    await renter.dial(multiaddr(relayedAddr), { signal: AbortSignal.timeout(10_000) })
    const client = createInferClient(renter, provider.peerId)
    const inputs = {
      a: new Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]),
      b: new Tensor('float32', Float32Array.from([10, 10, 10, 10, 10, 10]), [2, 3]),
    }
    const carrying = () =>
      renter.getConnections(provider.peerId).filter((c) => c.streams.some((s) => s.protocol === INFER_PROTOCOL))
    try {
      const first = await client.infer({ model, inputs })
      assert.deepEqual(Array.from(first.outputs.y!.data as Float32Array), [11, 12, 13, 14, 15, 16])
      assert.ok(carrying().length === 1 && isRelayed(carrying()[0]!), 'the first request ran on the relay')

      // A direct connection appears (as a hole punch would make one) while requests are being pipelined.
      const direct = renter.dial(provider.getMultiaddrs().find((a) => !a.toString().includes('/p2p-circuit'))!)
      const during = Array.from({ length: 8 }, () => client.infer({ model, inputs }))
      await direct
      const results = await Promise.all(during)
      assert.equal(results.length, 8)
      const after = await client.infer({ model, inputs })
      assert.deepEqual(Array.from(after.outputs.y!.data as Float32Array), [11, 12, 13, 14, 15, 16])
      let on = carrying()
      for (let i = 0; i < 40 && on.some(isRelayed); i++) {
        await sleep(50)
        on = carrying()
      }
      assert.equal(on.length, 1, 'one infer stream, on one connection')
      assert.ok(!isRelayed(on[0]!), `the infer stream is on ${on[0]!.remoteAddr}`)
    } finally {
      await client.close()
    }
  })
})
