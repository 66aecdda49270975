import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { ClientProgressEvent } from '../../src/client/events.js'
import { matmulModel } from '../compute/onnx-builder.js'
import { type LongRunning, startProviderCli, writeChainFile } from '../helpers/cli.js'
import { type GatewayWorld, postInfer, readBinaryResponse, startGatewayWorld, waitUntil } from './fixture.js'

// Slow enough that the job is still running on the provider when the test kills it.
const N = 256
const slow = matmulModel(24)

describe('gateway failover: a provider killed -9 mid-request', () => {
  let world: GatewayWorld
  let cheap: LongRunning
  let cheapId = ''
  const events: ClientProgressEvent[] = []

  before(async () => {
    world = await startGatewayWorld({
      models: { slow },
      price: 2000n,
      offers: 2,
      onEvent: (e) => {
        events.push(e)
        if (e.type === 'job:started' && e.providerPeer === cheapId) void cheap.stop('SIGKILL')
      },
      // The cheaper provider runs in its own process, so that it can be killed -9.
      extraProvider: async (hub, chain, dir) => {
        const modelFile = join(dir, 'slow-cheap.onnx')
        await writeFile(modelFile, slow)
        ;({ provider: cheap, peerId: cheapId } = await startProviderCli({
          dataDir: join(dir, 'cheap'),
          chainFile: await writeChainFile(chain, dir),
          privateKey: chain.accounts[3]!.privateKey,
          price: 1000n,
          modelFile,
          flags: hub.flatMap((a) => ['--bootstrap', a]),
        }))
      },
    })
  })

  after(async () => {
    await cheap?.stop('SIGKILL')
    await world?.stop()
  })

  it('the request is served by the next provider, and the key is charged once: exactly what the leases paid', async () => {
    const { token, record } = await world.gateway.keys.create('agent', { maxPricePerSecond: 5000n })
    const a = Buffer.from(new Float32Array(N * N).fill(0.001).buffer)
    const res = await postInfer(
      world.http.url,
      'slow',
      {
        json: {
          inputs: [
            { name: 'a', datatype: 'FP32', shape: [N, N], parameters: { binary_data_size: a.byteLength } },
            { name: 'b', datatype: 'FP32', shape: [N, N], parameters: { binary_data_size: a.byteLength } },
          ],
          parameters: { binary_data_output: true },
        },
        binary: [a, a],
      },
      token,
    )
    assert.equal(res.status, 200, res.status === 200 ? '' : await res.text())
    const dearId = world.provider.node.peerId.toString()
    assert.equal(res.headers.get('parkbench-provider'), dearId)
    const { json, outputs } = await readBinaryResponse(res)
    assert.deepEqual(json.outputs[0].shape, [N, N])
    assert.equal(outputs.y!.byteLength, N * N * 4)
    assert.ok(
      events.some((e) => e.type === 'failover' && e.from === cheapId),
      'it failed over from the killed one',
    )

    await world.gateway.client.endLeases()
    await waitUntil(() => world.gateway.client.activeLeases().length === 0)
    const leases = world.gateway.client.leaseHistory()
    assert.deepEqual(new Set(leases.map((l) => l.providerPeer)), new Set([cheapId, dearId]))
    const paid = leases.reduce((sum, l) => sum + l.amountPaid, 0n)
    // One request, charged once: its key's spend is what both leases paid, no more, no less.
    assert.equal(world.gateway.keys.spendOf(record.id).total, paid)
    assert.ok(BigInt(json.parameters.parkbench_cost_wei) <= paid)
    const lost = leases.find((l) => l.providerPeer === cheapId)!
    assert.ok(lost.ticksSent - lost.ticksAcknowledged <= 1, 'the dead provider got at most one unacknowledged tick')
  })
})
