/**
 * Profile a SqueezeNet run (docs/fast-path.md): `node dist/test/bench/profile-compute.js OUT_DIR [SECONDS]`.
 * Starts a provider process under `--cpu-prof` into OUT_DIR, runs pipelined SqueezeNet
 * requests at concurrency 1 from this process for SECONDS (default 8), and stops everything. Run this script itself
 * with `--cpu-prof --cpu-prof-dir=OUT_DIR` for the client's profile. PROFILE_PROVIDER_FLAGS replaces the provider's
 * node flags (e.g. `--trace-gc`). Summarise with profile-summary.js.
 */
import '../../src/polyfill.js'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import { Tensor } from 'onnxruntime-node'
import { createInferClient } from '../../src/compute/infer-client.js'
import { ModelStore } from '../../src/compute/model-store.js'
import { createNode } from '../../src/net/create-node.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const MODEL = join(ROOT, 'test', 'fixtures', 'onnx-backend-data', 'light', 'light_squeezenet.onnx')
const PROVIDER = join(ROOT, 'dist', 'test', 'compute', 'provider-process.js')

const outDir = resolve(process.argv[2] ?? 'profiles')
const seconds = Number(process.argv[3] ?? 8)
const dataDir = await mkdtemp(join(tmpdir(), 'parkbench-profile-'))
const record = await new ModelStore({ dataDir }).add(MODEL, { name: 'squeezenet' })
// The provider's main process only: Node 20 refuses --cpu-prof in NODE_OPTIONS, and the pool starts its workers
// with flags of its own (their share is `transferMs` and `runMs` in the traced breakdown).
const flags = process.env.PROFILE_PROVIDER_FLAGS?.split(' ') ?? ['--cpu-prof', `--cpu-prof-dir=${outDir}`]
const provider = spawn(process.execPath, [...flags, PROVIDER, dataDir], {
  stdio: ['pipe', 'pipe', 'inherit'],
})
// The first JSON line: a flag like --trace-gc writes to stdout too (passed on to this process's stderr).
const first = await new Promise<string>((ok) =>
  createInterface({ input: provider.stdout! }).on('line', (line) => {
    if (line.startsWith('{"addr"')) ok(line)
    else process.stderr.write(`${line}\n`)
  }),
)
const node = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
const client = createInferClient(node, multiaddr((JSON.parse(first) as { addr: string }).addr))
const input = record.inputs[0]!
const dims = input.dims.map((d) => (typeof d === 'number' && d > 0 ? d : 1))
const data = new Float32Array(dims.reduce((a, b) => a * b, 1)).map((_, i) => (i % 255) / 255)
const parameters = { model: record.sha256, inputs: { [input.name]: new Tensor('float32', data, dims) } }
const end = performance.now() + seconds * 1000
let requests = 0
while (performance.now() < end) {
  await client.infer(parameters)
  requests++
}
await client.close()
await node.stop()
const exited = new Promise((ok) => provider.once('exit', ok))
provider.stdin!.end()
await exited
await rm(dataDir, { recursive: true, force: true })
process.stdout.write(`${JSON.stringify({ requests, seconds, outDir })}\n`)
