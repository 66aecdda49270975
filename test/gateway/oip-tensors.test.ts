import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InvalidOipRequestError, InvalidTensorError } from '../../src/gateway/errors.js'
import { jsonDataOfTensor, parseInferRequest } from '../../src/gateway/oip-tensors.js'

const parse = (json: unknown, binary?: Buffer) => {
  const header = Buffer.from(JSON.stringify(json))
  return binary == null
    ? parseInferRequest(header)
    : parseInferRequest(Buffer.concat([header, binary]), header.byteLength)
}

describe('Open Inference Protocol tensors', () => {
  it('takes nested row-major JSON data', () => {
    const { inputs } = parse({
      inputs: [
        {
          name: 'x',
          datatype: 'INT32',
          shape: [2, 2],
          data: [
            [1, 2],
            [3, 4],
          ],
        },
      ],
    })
    assert.deepEqual(Array.from(new Int32Array((inputs.x!.data as Uint8Array).slice().buffer)), [1, 2, 3, 4])
  })

  it('refuses values out of a datatype range, naming the tensor', () => {
    for (const [datatype, value] of [
      ['UINT8', 256],
      ['INT8', -129],
      ['INT64', '9223372036854775808'],
      ['UINT64', -1],
      ['BOOL', 2],
      ['FP32', 'one'],
    ] as const) {
      assert.throws(
        () => parse({ inputs: [{ name: 'x', datatype, shape: [1], data: [value] }] }),
        (err: unknown) => err instanceof InvalidTensorError && err.tensor === 'x',
        `${datatype} ${value}`,
      )
    }
  })

  it('checks the binary section: sizes, BYTES framing, UTF-8, what is left over', () => {
    const bytes = (n: number) => ({ name: 'x', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: n } })
    const cut = Buffer.from([5, 0, 0, 0, 0x61])
    assert.throws(() => parse({ inputs: [bytes(5)] }, cut), InvalidTensorError)
    const notUtf8 = Buffer.from([1, 0, 0, 0, 0xff])
    assert.throws(() => parse({ inputs: [bytes(5)] }, notUtf8), InvalidTensorError)
    const ok = Buffer.from([2, 0, 0, 0, 0x68, 0x69])
    assert.deepEqual(parse({ inputs: [bytes(6)] }, ok).inputs.x!.data, ['hi'])
    assert.throws(() => parse({ inputs: [bytes(6)] }, Buffer.concat([ok, Buffer.from([0])])), InvalidOipRequestError)
    const f32 = { name: 'y', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 4 } }
    assert.throws(() => parse({ inputs: [f32] }, Buffer.alloc(4)), InvalidTensorError)
    assert.throws(() => parseInferRequest(Buffer.from('{}'), 10), InvalidOipRequestError)
  })

  it('writes outputs as JSON the protocol allows: exact int64, booleans, non-finite floats as strings', () => {
    assert.equal(
      jsonDataOfTensor({ type: 'int64', dims: [1], data: BigInt64Array.from([-(2n ** 63n)]) }),
      '[-9223372036854775808]',
    )
    assert.equal(jsonDataOfTensor({ type: 'bool', dims: [2], data: Uint8Array.from([1, 0]) }), '[true,false]')
    assert.deepEqual(
      JSON.parse(
        jsonDataOfTensor({ type: 'float32', dims: [3], data: Float32Array.from([Number.NaN, Infinity, 1.5]) }),
      ),
      ['NaN', 'Infinity', 1.5],
    )
  })
})
