import assert from 'node:assert/strict'
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { InferenceSession, Tensor } from 'onnxruntime-node'
import { TensorProto } from '../../src/compute/pb/onnx-tensor.js'
import { compareTensors, REPO_ROOT } from './helpers.js'
import { addModel, padModel } from './onnx-builder.js'

const run = promisify(execFile)
const BIN = join(REPO_ROOT, 'bin', 'parkbench.js')
const PROVIDER = join(REPO_ROOT, 'dist', 'test', 'compute', 'provider-process.js')
const OCR_CLS = join(
  REPO_ROOT,
  'node_modules',
  '@gutenye',
  'ocr-models',
  'assets',
  'ch_ppocr_mobile_v2.0_cls_infer.onnx',
)

async function parkbench(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 })
}

async function startProvider(dataDir: string): Promise<{ child: ChildProcess; addr: string }> {
  const child = spawn(process.execPath, [PROVIDER, dataDir], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout! })
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve)
    child.once('exit', (code) => reject(new Error(`provider exited with ${code}`)))
  })
  return { child, addr: (JSON.parse(first) as { addr: string }).addr }
}

describe('parkbench model add / model ls / infer across two processes', () => {
  let dir: string
  let provider: { child: ChildProcess; addr: string }
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parkbench-cli-compute-'))
  })
  after(async () => {
    provider?.child.stdin?.end()
    if (provider !== undefined && provider.child.exitCode === null) {
      await new Promise((resolve) => provider.child.once('exit', resolve))
    }
    await rm(dir, { recursive: true, force: true })
  })

  it('adds a real model, lists it, and infers it from another process with the outputs of a local run', async () => {
    const dataDir = join(dir, 'provider')
    const added = JSON.parse((await parkbench(['model', 'add', OCR_CLS, '--data-dir', dataDir, '--json'])).stdout)
    assert.match(added.sha256, /^[0-9a-f]{64}$/)
    assert.equal(added.name, 'ch_ppocr_mobile_v2.0_cls_infer.onnx')
    const listed = JSON.parse((await parkbench(['model', 'ls', '--data-dir', dataDir, '--json'])).stdout)
    assert.deepEqual(
      listed.map((r: { sha256: string }) => r.sha256),
      [added.sha256],
    )
    const inputName = added.inputs[0].name as string

    provider = await startProvider(dataDir)

    // A deterministic image-like input, as a TensorProto .pb (how ONNX tooling saves tensors) and as JSON.
    const dims = [1, 3, 48, 192]
    const values = Float32Array.from({ length: dims.reduce((a, b) => a * b) }, (_, i) => Math.sin(i / 7) * 0.5)
    const pbPath = join(dir, 'input.pb')
    await writeFile(
      pbPath,
      TensorProto.encode({
        dims,
        dataType: 1,
        rawData: new Uint8Array(values.buffer),
        name: '',
        floatData: [],
        int32Data: [],
        stringData: [],
        int64Data: [],
        doubleData: [],
        uint64Data: [],
        docString: '',
        dataLocation: 0,
      }),
    )
    const jsonPath = join(dir, 'input.json')
    await writeFile(jsonPath, JSON.stringify({ [inputName]: { dtype: 'float32', dims, data: Array.from(values) } }))

    const session = await InferenceSession.create(OCR_CLS)
    const local = await session.run({ [inputName]: new Tensor('float32', values, dims) })
    await session.release()

    for (const args of [
      ['--model', added.sha256, '--input', `${inputName}=${pbPath}`],
      ['--model', OCR_CLS, '--input', pbPath],
      ['--model', added.sha256, '--input', jsonPath],
    ]) {
      const { stdout } = await parkbench(['infer', '--peer', provider.addr, ...args, '--json'])
      const result = JSON.parse(stdout)
      assert.equal(result.model, added.sha256)
      for (const [name, expected] of Object.entries(local)) {
        const got = result.outputs[name]
        assert.ok(got, `output ${name}`)
        const mismatch = compareTensors(
          { type: got.dtype, dims: got.dims, data: got.data },
          { type: expected.type, dims: expected.dims, data: Array.from(expected.data as Float32Array) },
          1e-5,
          1e-6,
        )
        assert.equal(mismatch, undefined)
      }
    }

    const text = await parkbench(['infer', '--peer', provider.addr, '--model', added.sha256, '--input', jsonPath])
    assert.match(text.stdout, /float32\[1,2\]/)
    assert.match(text.stdout, /run [\d.]+ ms/)
  })

  it('infer --model FILE pushes the model when the provider lacks it', async () => {
    const modelPath = join(dir, 'add.onnx')
    await writeFile(modelPath, addModel())
    const inputPath = join(dir, 'add-input.json')
    const a = { dtype: 'float32', dims: [2, 3], data: [1, 2, 3, 4, 5, 6] }
    await writeFile(inputPath, JSON.stringify({ inputs: { a, b: a } }))
    const { stdout } = await parkbench([
      'infer',
      '--peer',
      provider.addr,
      '--model',
      modelPath,
      '--input',
      inputPath,
      '--json',
    ])
    const result = JSON.parse(stdout)
    assert.deepEqual(result.outputs.y, { dtype: 'float32', dims: [2, 3], data: [2, 4, 6, 8, 10, 12] })
    const listed = JSON.parse((await parkbench(['model', 'ls', '--data-dir', join(dir, 'provider'), '--json'])).stdout)
    assert.ok(listed.some((r: { sha256: string }) => r.sha256 === result.model))
  })

  it('infer --model FILE pushes an 8 MiB model (PaddleOCR recognition is 10.8 MB) and runs it', async () => {
    const modelPath = join(dir, 'big-add.onnx')
    await writeFile(modelPath, padModel(addModel(), 8 * 1024 * 1024))
    const inputPath = join(dir, 'big-add-input.json')
    const a = { dtype: 'float32', dims: [2, 3], data: [1, 1, 1, 1, 1, 1] }
    await writeFile(inputPath, JSON.stringify({ inputs: { a, b: a } }))
    const { stdout } = await parkbench([
      'infer',
      '--peer',
      provider.addr,
      '--model',
      modelPath,
      '--input',
      inputPath,
      '--json',
    ])
    assert.deepEqual(JSON.parse(stdout).outputs.y.data, [2, 2, 2, 2, 2, 2])
  })

  it('infer on a terminal shows a bar while it pushes the model (stderr), the outputs on stdout as ever', async () => {
    const modelPath = join(dir, 'bar-add.onnx')
    await writeFile(modelPath, padModel(addModel(), 3 * 1024 * 1024))
    const inputPath = join(dir, 'bar-add-input.json')
    const a = { dtype: 'float32', dims: [2, 3], data: [1, 1, 1, 1, 1, 1] }
    await writeFile(inputPath, JSON.stringify({ inputs: { a, b: a } }))
    // PARKBENCH_PROGRESS=1 stands in for a terminal on stderr.
    const { stdout, stderr } = await parkbench(
      ['infer', '--peer', provider.addr, '--model', modelPath, '--input', inputPath],
      { PARKBENCH_PROGRESS: '1' },
    )
    assert.match(stderr, /pushing the model to \S+ \[#{24}\] 100% {2}3\.0\/3\.0 MiB/)
    assert.match(stderr, /pushed the model to /)
    assert.match(stdout, /^y: float32\[2,3\] \[2, 2, 2, 2, 2, 2\]/)
  })

  it('an unknown model hash exits 1 with its status code; bad flags exit 2', async () => {
    await assert.rejects(
      parkbench(['infer', '--peer', provider.addr, '--model', 'ab'.repeat(32), '--input', join(dir, 'input.json')]),
      (err: { code?: number; stderr?: string }) => err.code === 1 && /MODEL_NOT_FOUND/.test(err.stderr ?? ''),
    )
    await assert.rejects(parkbench(['infer', '--peer', provider.addr]), (err: { code?: number }) => err.code === 2)
    await assert.rejects(parkbench(['model', 'add', join(dir, 'input.json'), '--data-dir', join(dir, 'x')]), {
      code: 1,
    })
  })
})
