import assert from 'node:assert/strict'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { InferenceSession, Tensor } from 'onnxruntime-node'
import { GATEWAY_DIR, KEYS_FILE } from '../../src/gateway/index.js'
import { identityModel } from '../compute/onnx-builder.js'
import { runMain } from '../helpers/cli.js'
import { type GatewayWorld, jsonOf, postInfer, readBinaryResponse, startGatewayWorld } from './fixture.js'

const TYPES = ['float32', 'int64', 'bool', 'string', 'float16'] as const
const model = identityModel([...TYPES])

// The same values in each form: OIP JSON, OIP binary, and onnxruntime tensors for the local reference run.
const f32 = Float32Array.from([0.1, -2.5, 3e38, 1e-7])
const i64 = BigInt64Array.from([1n, -(2n ** 62n), 2n ** 63n - 1n, 0n])
const bools = Uint8Array.from([1, 0, 0, 1])
const strings = ['héllo', '', 'agents paying agents', '🦜']
const f16 = Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001]) // 1, -2, 65504, the smallest subnormal

function bytesOf(view: ArrayBufferView): Buffer {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength)
}

function bytesStrings(values: string[]): Buffer {
  return Buffer.concat(
    values.flatMap((s) => {
      const b = Buffer.from(s, 'utf8')
      const len = Buffer.alloc(4)
      len.writeUInt32LE(b.byteLength)
      return [len, b]
    }),
  )
}

describe('parkbench gateway: the Open Inference Protocol against a real provider on anvil', () => {
  let world: GatewayWorld
  let key: string
  let local: Record<string, Tensor>

  before(async () => {
    world = await startGatewayWorld({
      models: {
        ident: model,
        f32: identityModel(['float32']),
        i64: identityModel(['int64']),
        fb: identityModel(['float32', 'bool']),
      },
      maxBodyBytes: 1024 * 1024,
    })
    const created = await runMain([
      'gateway',
      'key',
      'create',
      '--name',
      'agent-1',
      '--max-price-per-second',
      '5000',
      '--json',
      '--data-dir',
      join(world.dir, 'renter'),
    ])
    assert.equal(created.code, 0, created.stderr)
    key = JSON.parse(created.stdout).key
    const session = await InferenceSession.create(model)
    local = (await session.run({
      x_float32: new Tensor('float32', f32, [4]),
      x_int64: new Tensor('int64', i64, [4]),
      x_bool: new Tensor('bool', bools, [4]),
      x_string: new Tensor('string', strings, [4]),
      x_float16: new Tensor('float16', f16, [4]),
    })) as Record<string, Tensor>
    await session.release()
  })

  after(async () => {
    await world?.stop()
  })

  it('stores keys hashed, in a 0600 file', async () => {
    const file = join(world.dir, 'renter', GATEWAY_DIR, KEYS_FILE)
    assert.equal((await stat(file)).mode & 0o777, 0o600)
    const { readFile } = await import('node:fs/promises')
    assert.ok(!(await readFile(file, 'utf8')).includes(key), 'the key itself is never stored')
  })

  it('answers health, server and model metadata', async () => {
    const url = world.http.url
    assert.equal((await fetch(`${url}/v2/health/live`)).status, 200)
    assert.equal((await fetch(`${url}/v2/health/ready`)).status, 200)
    const server = await jsonOf(await fetch(`${url}/v2`))
    assert.ok(server.extensions.includes('binary_tensor_data'))
    const meta = await jsonOf(await fetch(`${url}/v2/models/ident`))
    assert.deepEqual(
      meta.inputs.map((i: { name: string; datatype: string }) => `${i.name}:${i.datatype}`),
      ['x_float32:FP32', 'x_int64:INT64', 'x_bool:BOOL', 'x_string:BYTES', 'x_float16:FP16'],
    )
    assert.equal((await fetch(`${url}/v2/models/ident/ready`)).status, 200)
    assert.equal((await fetch(`${url}/v2/models/nope/ready`)).status, 404)
  })

  it('JSON tensors give exactly what local onnxruntime gives, with the cost and provider', async () => {
    const res = await postInfer(
      world.http.url,
      'ident',
      {
        json: {
          id: 'r1',
          inputs: [
            { name: 'x_float32', datatype: 'FP32', shape: [4], data: Array.from(f32) },
            { name: 'x_int64', datatype: 'INT64', shape: [4], data: Array.from(i64, String) },
            { name: 'x_bool', datatype: 'BOOL', shape: [4], data: [true, false, false, true] },
            { name: 'x_string', datatype: 'BYTES', shape: [4], data: strings },
            { name: 'x_float16', datatype: 'FP16', shape: [4], parameters: { binary_data_size: 8 } },
          ],
        },
        binary: [bytesOf(f16)],
      },
      key,
    )
    assert.equal(res.status, 200, await res.clone().text())
    // No output asked as binary: the answer is JSON even though an input was binary.
    assert.equal(res.headers.get('content-type'), 'application/json')
    const body = await jsonOf(res)
    assert.equal(body.id, 'r1')
    const out = Object.fromEntries(body.outputs.map((o: { name: string }) => [o.name, o]))
    assert.deepEqual(Float32Array.from(out.y_float32.data), local.y_float32!.data)
    assert.deepEqual(out.y_bool.data, [true, false, false, true])
    assert.deepEqual(out.y_string.data, strings)
    assert.equal(out.y_int64.datatype, 'INT64')
    assert.equal(out.y_float16.datatype, 'FP16')
    assert.deepEqual(out.y_float16.data, [1, -2, 65504, 2 ** -24])
    const cost = BigInt(body.parameters.parkbench_cost_wei)
    assert.ok(cost > 0n, 'the first request pays its lease its first tick')
    assert.equal(res.headers.get('parkbench-cost-wei'), cost.toString())
    assert.equal(res.headers.get('parkbench-provider'), world.provider.node.peerId.toString())
    assert.equal(body.parameters.parkbench_provider, world.provider.node.peerId.toString())
  })

  it('int64 outputs in JSON are exact integers', async () => {
    const res = await postInfer(
      world.http.url,
      'i64',
      {
        json: {
          inputs: [{ name: 'x_int64', datatype: 'INT64', shape: [4], data: Array.from(i64, String) }],
          outputs: [{ name: 'y_int64' }],
        },
      },
      key,
    )
    const raw = await res.text()
    assert.equal(res.status, 200, raw)
    assert.match(raw, /"data":\[1,-4611686018427387904,9223372036854775807,0\]/)
  })

  it('binary tensors in and out give the same bytes as local onnxruntime, every dtype', async () => {
    const res = await postInfer(
      world.http.url,
      'ident',
      {
        json: {
          inputs: [
            { name: 'x_float32', datatype: 'FP32', shape: [4], parameters: { binary_data_size: 16 } },
            { name: 'x_int64', datatype: 'INT64', shape: [4], parameters: { binary_data_size: 32 } },
            { name: 'x_bool', datatype: 'BOOL', shape: [4], parameters: { binary_data_size: 4 } },
            {
              name: 'x_string',
              datatype: 'BYTES',
              shape: [4],
              parameters: { binary_data_size: bytesStrings(strings).byteLength },
            },
            { name: 'x_float16', datatype: 'FP16', shape: [4], parameters: { binary_data_size: 8 } },
          ],
          parameters: { binary_data_output: true },
        },
        binary: [bytesOf(f32), bytesOf(i64), bytesOf(bools), bytesStrings(strings), bytesOf(f16)],
      },
      key,
    )
    assert.equal(res.status, 200, res.status === 200 ? '' : await res.text())
    assert.equal(res.headers.get('content-type'), 'application/octet-stream')
    const { json, outputs } = await readBinaryResponse(res)
    assert.deepEqual(outputs.y_float32, bytesOf(local.y_float32!.data as Float32Array))
    assert.deepEqual(outputs.y_int64, bytesOf(local.y_int64!.data as BigInt64Array))
    assert.deepEqual(outputs.y_bool, bytesOf(local.y_bool!.data as Uint8Array))
    assert.deepEqual(outputs.y_float16, bytesOf(local.y_float16!.data as Uint16Array))
    assert.deepEqual(outputs.y_string, bytesStrings(local.y_string!.data as string[]))
    assert.deepEqual(
      json.outputs.map((o: { datatype: string }) => o.datatype),
      ['FP32', 'INT64', 'BOOL', 'BYTES', 'FP16'],
    )
    assert.equal(typeof json.parameters.parkbench_cost_wei, 'string')
  })

  it('per-output binary_data overrides the request default', async () => {
    const res = await postInfer(
      world.http.url,
      'fb',
      {
        json: {
          inputs: [
            { name: 'x_float32', datatype: 'FP32', shape: [4], data: Array.from(f32) },
            { name: 'x_bool', datatype: 'BOOL', shape: [4], data: [1, 0, 0, 1] },
          ],
          outputs: [{ name: 'y_float32', parameters: { binary_data: true } }, { name: 'y_bool' }],
        },
      },
      key,
    )
    const { json, outputs } = await readBinaryResponse(res)
    assert.deepEqual(outputs.y_float32, bytesOf(local.y_float32!.data as Float32Array))
    assert.deepEqual(json.outputs[1].data, [true, false, false, true])
  })

  it('refuses without a key (401), and bad requests with typed OIP errors, and keeps serving', async () => {
    const url = world.http.url
    const good = { json: { inputs: [{ name: 'x_float32', datatype: 'FP32', shape: [4], data: [1, 2, 3, 4] }] } }
    const noKey = await postInfer(url, 'f32', good)
    assert.equal(noKey.status, 401)
    assert.equal((await jsonOf(noKey)).code, 'UNAUTHORIZED')
    assert.equal((await postInfer(url, 'f32', good, 'pbk_wrong')).status, 401)

    const cases: Array<[string, RequestInit, number, string]> = [
      ['not JSON', { body: '{"inputs": [' }, 400, 'INVALID_REQUEST'],
      ['no inputs', { body: '{}' }, 400, 'INVALID_REQUEST'],
      [
        'bad datatype',
        { body: JSON.stringify({ inputs: [{ name: 'x_float32', datatype: 'FP8', shape: [1], data: [1] }] }) },
        400,
        'INVALID_TENSOR',
      ],
      [
        'data does not fit the shape',
        { body: JSON.stringify({ inputs: [{ name: 'x_float32', datatype: 'FP32', shape: [3], data: [1, 2] }] }) },
        400,
        'INVALID_TENSOR',
      ],
      [
        'wrong rank for the model',
        {
          body: JSON.stringify({
            inputs: [{ name: 'x_float32', datatype: 'FP32', shape: [2, 2], data: [1, 2, 3, 4] }],
          }),
        },
        400,
        'INVALID_TENSOR',
      ],
      [
        'wrong dtype for the model',
        { body: JSON.stringify({ inputs: [{ name: 'x_float32', datatype: 'INT32', shape: [1], data: [1] }] }) },
        400,
        'INVALID_TENSOR',
      ],
      [
        'unknown input name',
        { body: JSON.stringify({ inputs: [{ name: 'nope', datatype: 'FP32', shape: [1], data: [1] }] }) },
        400,
        'INVALID_TENSOR',
      ],
      [
        'binary past the end',
        {
          body: JSON.stringify({
            inputs: [{ name: 'x_float32', datatype: 'FP32', shape: [4], parameters: { binary_data_size: 16 } }],
          }),
          headers: { 'inference-header-content-length': '0' },
        },
        400,
        'INVALID_REQUEST',
      ],
      ['oversized body', { body: Buffer.alloc(2 * 1024 * 1024, 0x20) }, 413, 'PAYLOAD_TOO_LARGE'],
    ]
    for (const [what, init, status, code] of cases) {
      const res = await fetch(`${url}/v2/models/f32/infer`, {
        method: 'POST',
        ...init,
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          ...(init.headers as Record<string, string>),
        },
      })
      const body = await jsonOf(res)
      assert.equal(res.status, status, `${what}: ${JSON.stringify(body)}`)
      assert.equal(body.code, code, what)
      assert.equal(typeof body.error, 'string', what)
    }
    const unknown = await postInfer(url, 'no-such-model', good, key)
    assert.equal(unknown.status, 404)
    assert.equal((await jsonOf(unknown)).code, 'UNKNOWN_MODEL')
    assert.equal((await fetch(`${url}/v2/nothing`)).status, 404)
    // Still serving.
    const after = await postInfer(url, 'f32', good, key)
    assert.equal(after.status, 200, await after.clone().text())
    assert.deepEqual((await jsonOf(after)).outputs[0].data, [1, 2, 3, 4])
  })

  it('serves concurrent requests for two models on one provider (one lease at a time per provider)', async () => {
    const f32 = { json: { inputs: [{ name: 'x_float32', datatype: 'FP32', shape: [2], data: [1, 2] }] } }
    const i64 = { json: { inputs: [{ name: 'x_int64', datatype: 'INT64', shape: [1], data: [7] }] } }
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        postInfer(world.http.url, i % 2 === 0 ? 'f32' : 'i64', i % 2 === 0 ? f32 : i64, key),
      ),
    )
    for (const r of results) assert.equal(r.status, 200, await r.clone().text())
    const outs = await Promise.all(results.map(async (r) => (await jsonOf(r)).outputs[0].data))
    assert.deepEqual(outs, [[1, 2], [7], [1, 2], [7], [1, 2], [7]])
  })

  it('says why a request cannot be served: the price ceiling (with the cheapest price), no provider', async () => {
    const { token } = await world.gateway.keys.create('cheapskate', { maxPricePerSecond: 10n })
    const request = { json: { inputs: [{ name: 'x_float32', datatype: 'FP32', shape: [1], data: [1] }] } }
    const tooCheap = await postInfer(world.http.url, 'f32', request, token)
    assert.equal(tooCheap.status, 503)
    const body = await jsonOf(tooCheap)
    assert.equal(body.code, 'PRICE_CEILING')
    assert.equal(body.cheapest_price_per_second, '1000')
    const nobody = await postInfer(world.http.url, 'ab'.repeat(32), request, key)
    assert.equal(nobody.status, 503)
    assert.equal((await jsonOf(nobody)).code, 'NO_PROVIDER')
  })

  it('the key list shows what each key spent, from what the leases paid', async () => {
    const listed = await runMain(['gateway', 'keys', '--json', '--data-dir', join(world.dir, 'renter')])
    assert.equal(listed.code, 0, listed.stderr)
    const [k] = JSON.parse(listed.stdout).keys
    assert.equal(k.name, 'agent-1')
    assert.equal(k.caps.maxPricePerSecond, '5000')
    assert.ok(BigInt(k.spend.total) > 0n)
  })
})
