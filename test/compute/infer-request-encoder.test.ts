import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Tensor } from 'onnxruntime-node'
import { encodeInferRequest } from '../../src/compute/infer-client.js'
import { encodeInferRequestList } from '../../src/compute/infer-request-encoder.js'
import { InferRequest } from '../../src/compute/pb/compute.js'

describe('infer request encoder (raw tensor bytes referenced)', () => {
  const sha = 'ab'.repeat(32)
  const cases = {
    'one float tensor': {
      x: new Tensor(
        'float32',
        Float32Array.from({ length: 1000 }, (_, i) => i / 7),
        [10, 100],
      ),
    },
    'several tensors, an empty one and strings': {
      a: new Tensor('int64', BigInt64Array.from([1n, -2n, 3n]), [3]),
      empty: new Tensor('float32', new Float32Array(0), [0, 4]),
      s: new Tensor('string', ['x', 'yé', ''], [3]),
    },
  }
  for (const [name, inputs] of Object.entries(cases)) {
    it(`decodes to what InferRequest.encode writes: ${name}`, () => {
      const request: InferRequest = {
        ...encodeInferRequest({ model: sha, inputs, outputNames: ['y'], deadlineMs: 500 }),
        id: 7,
        cancel: false,
        trace: true,
      }
      const list = encodeInferRequestList(request)
      const plain = InferRequest.encode(request)
      assert.equal(list.byteLength, plain.byteLength)
      assert.deepEqual(InferRequest.decode(list), InferRequest.decode(plain))
    })
  }

  it('references the tensor bytes instead of copying them', () => {
    const data = new Float32Array(4096).fill(1)
    const request = { ...encodeInferRequest({ model: sha, inputs: { x: new Tensor('float32', data, [4096]) } }) }
    const list = encodeInferRequestList({ ...request, id: 1, cancel: false, trace: false })
    const bufs = [...list]
    assert.ok(bufs.some((b) => b.buffer === data.buffer && b.byteLength === data.byteLength))
  })
})
