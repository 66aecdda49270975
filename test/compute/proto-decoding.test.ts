import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DataType, InferResponse, ModelRequest, Status, Tensor } from '../../src/compute/pb/compute.js'
import { TensorProto } from '../../src/compute/pb/onnx-tensor.js'

// The generated compute decoders accept what any proto3 encoder may send (scripts/generate-protos.mjs).
describe('generated compute decoders', () => {
  it('read repeated scalars packed as well as unpacked, and uint64 values past 2^53 as bigint', () => {
    const unpacked = Uint8Array.from([0x18, 0x02, 0x18, 0x03])
    const packed = Uint8Array.from([0x1a, 0x02, 0x02, 0x03])
    assert.deepEqual(Tensor.decode(unpacked).dims, [2n, 3n])
    assert.deepEqual(Tensor.decode(packed).dims, [2n, 3n])
    // Both forms in one message concatenate, as proto3 says.
    assert.deepEqual(Tensor.decode(Uint8Array.from([...packed, ...unpacked])).dims, [2n, 3n, 2n, 3n])
    const max = Uint8Array.from([0x18, ...new Array(9).fill(0xff), 0x01])
    assert.deepEqual(Tensor.decode(max).dims, [2n ** 64n - 1n])
    assert.equal(
      ModelRequest.decode(Uint8Array.from([0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10])).sizeBytes,
      2n ** 60n,
    )
    // ONNX's own TensorProto packs float_data and int64_data.
    const floats = new Uint8Array(new Float32Array([1.5, -2]).buffer)
    const proto = TensorProto.decode(Uint8Array.from([0x22, 0x08, ...floats, 0x3a, 0x02, 0x05, 0x07]))
    assert.deepEqual(proto.floatData, [1.5, -2])
    assert.deepEqual(proto.int64Data, [5n, 7n])
  })

  it('decode enum values this build does not know as the zero value (proto3 enums are open)', () => {
    assert.equal(Tensor.decode(Uint8Array.from([0x10, 0x10])).dataType, DataType.BFLOAT16)
    assert.equal(Tensor.decode(Uint8Array.from([0x10, 0x63])).dataType, DataType.DATA_TYPE_UNDEFINED)
    assert.equal(InferResponse.decode(Uint8Array.from([0x08, 0x63])).status, Status.STATUS_UNSPECIFIED)
    assert.equal(ModelRequest.decode(Uint8Array.from([0x08, 0x07])).kind, ModelRequest.Kind.KIND_UNSPECIFIED)
  })

  it('refuse a field that runs past the end of the embedded message holding it', () => {
    // InferResponse.outputs[0] is 2 bytes long, but its name claims the 3 bytes after it (protons read them, and
    // the id after them, as the name).
    assert.throws(() => InferResponse.decode(Uint8Array.from([0x1a, 0x02, 0x0a, 0x03, 0x61, 0x62, 0x63, 0x28, 0x08])))
    assert.equal(InferResponse.decode(Uint8Array.from([0x1a, 0x02, 0x0a, 0x00, 0x28, 0x08])).id, 8)
  })
})
