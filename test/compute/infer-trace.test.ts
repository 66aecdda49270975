import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Tensor } from 'onnxruntime-node'
import { createInferClient } from '../../src/compute/infer-client.js'
import type { InferTrace } from '../../src/compute/infer-trace.js'
import type { ModelRecord } from '../../src/compute/model-record.js'
import { type Pair, startPair } from './helpers.js'
import { addModel } from './onnx-builder.js'

describe('infer tracing', () => {
  let pair: Pair
  let add: ModelRecord
  before(async () => {
    pair = await startPair({ workers: 1 })
    add = await pair.compute.store.add(addModel(), { name: 'add' })
  })
  after(async () => {
    await pair?.stop()
  })

  const a = new Tensor('float32', new Float32Array(6).fill(1), [2, 3])
  const addr = (): ReturnType<Pair['provider']['getMultiaddrs']> => pair.provider.getMultiaddrs()

  it('answers without a trace unless the client asks for one', async () => {
    const client = createInferClient(pair.client, addr())
    try {
      const result = await client.infer({ model: add.sha256, inputs: { a, b: a } })
      assert.equal(result.trace, undefined)
      assert.deepEqual(Array.from(result.outputs.y!.data as Float32Array), [2, 2, 2, 2, 2, 2])
    } finally {
      await client.close()
    }
  })

  it('returns every part of the breakdown, with the same outputs, when the client asks', async () => {
    const client = createInferClient(pair.client, addr(), { trace: true })
    try {
      const results = await Promise.all(
        Array.from({ length: 3 }, () => client.infer({ model: add.sha256, inputs: { a, b: a } })),
      )
      for (const result of results) {
        assert.deepEqual(Array.from(result.outputs.y!.data as Float32Array), [2, 2, 2, 2, 2, 2])
        const trace = result.trace as InferTrace
        assert.ok(trace !== undefined)
        const keys: Array<keyof InferTrace> = [
          'clientEncodeMs',
          'providerDecodeMs',
          'queueMs',
          'transferMs',
          'runMs',
          'providerEncodeMs',
          'clientDecodeMs',
          'totalMs',
        ]
        // Durations measured on one clock are never negative; send/receive cross two clocks (one host here).
        for (const key of keys) assert.ok(trace[key] >= 0, `${key} = ${trace[key]}`)
        assert.ok(Number.isFinite(trace.sendMs) && Number.isFinite(trace.receiveMs))
        assert.ok(trace.runMs > 0)
      }
    } finally {
      await client.close()
    }
  })
})
