/**
 * `npm run bench -- gateway`: requests per second and p50/p95 latency of one inference, side by side, on the light
 * SqueezeNet and ResNet-50 graphs at concurrency 1 and 4:
 *   (a) onnxruntime-node in this process (one intra-op thread: what one provider worker runs),
 *   (b) the SDK: `client.infer()` against a paid `parkbench start` provider in its own process on anvil,
 *   (c) the gateway with JSON tensors, and (d) with the binary tensor data extension, over HTTP on loopback, through
 *       the same client (so (c) and (d) minus (b) is what the gateway adds).
 * Each cell is measured in three rounds that alternate with the others' (a shared machine's load falls on all alike).
 * Set BENCH_DURATION_MS to change the time per cell (default 3000).
 */
import '../../src/polyfill.js'
import { mkdtemp, readFile } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { InferenceSession, Tensor } from 'onnxruntime-node'
import { privateKeyToAccount } from 'viem/accounts'
import { inspectModel } from '../../src/compute/inspect-model.js'
import { openGateway, startGatewayHttp } from '../../src/gateway/index.js'
import { findOffers } from '../../src/market/discover.js'
import { waitForDhtPeers } from '../../src/net/dht-ready.js'
import { startDevChain } from '../../src/pay/dev-chain.js'
import { runCli, startProviderCli, writeChainFile } from '../helpers/cli.js'
import { percentile, printTable, round } from './stats.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const LIGHT = join(ROOT, 'test', 'fixtures', 'onnx-backend-data', 'light')
const MODELS = [
  { name: 'squeezenet', file: 'light_squeezenet.onnx' },
  { name: 'resnet50', file: 'light_resnet50.onnx' },
]
const CONCURRENCY = [1, 4]
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 3000)
const ROUNDS = 3

interface Cell {
  requests: number
  throughputPerSec: number
  p50Ms: number
  p95Ms: number
  errors: number
  firstError?: string
}

interface Sample {
  latencies: number[]
  errors: number
  seconds: number
  firstError?: string
}

/** Run `call` from `concurrency` loops for `durationMs` after a short warm-up. */
async function sample(call: () => Promise<void>, concurrency: number, durationMs: number): Promise<Sample> {
  for (let i = 0; i < 3; i++) {
    try {
      await call()
    } catch (err) {
      process.stderr.write(`warm-up: ${(err as Error).message}\n`)
      await new Promise((r) => setTimeout(r, 1_000))
    }
  }
  const out: Sample = { latencies: [], errors: 0, seconds: 0 }
  const started = performance.now()
  const end = started + durationMs
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now()
        try {
          await call()
          out.latencies.push(performance.now() - t0)
        } catch (err) {
          if (out.errors === 0) out.firstError = (err as Error).message.slice(0, 300)
          out.errors++
        }
      }
    }),
  )
  out.seconds = (performance.now() - started) / 1000
  return out
}

function cell(samples: Sample[]): Cell {
  const latencies = samples.flatMap((s) => s.latencies)
  const seconds = samples.reduce((t, s) => t + s.seconds, 0)
  const errors = samples.reduce((t, s) => t + s.errors, 0)
  const firstError = samples.find((s) => s.firstError != null)?.firstError
  return {
    requests: latencies.length,
    throughputPerSec: round(latencies.length / seconds),
    p50Ms: round(percentile(latencies, 50)),
    p95Ms: round(percentile(latencies, 95)),
    errors,
    ...(firstError != null ? { firstError } : {}),
  }
}

/**
 * Measure the paths that are compared with each other in alternating rounds, so that the load other processes put
 * on a shared machine falls on each of them alike.
 */
async function interleaved(
  paths: Record<string, () => Promise<void>>,
  concurrency: number,
): Promise<Record<string, Cell>> {
  const samples: Record<string, Sample[]> = Object.fromEntries(Object.keys(paths).map((k) => [k, []]))
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, call] of Object.entries(paths))
      samples[name]!.push(await sample(call, concurrency, DURATION_MS / ROUNDS))
  }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, cell(v)]))
}

function post(agent: Agent, url: URL, path: string, headers: Record<string, string>, body: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path,
        agent,
        headers: { ...headers, 'content-length': body.byteLength },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          if (res.statusCode !== 200)
            reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 200)}`))
          else resolve(Buffer.concat(chunks))
        })
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

export async function run(): Promise<object> {
  const chain = await startDevChain()
  const dir = await mkdtemp(join(tmpdir(), 'pb-bench-gateway-'))
  const chainFile = await writeChainFile(chain, dir)
  const aliases: Record<string, string> = {}
  for (const m of MODELS) aliases[m.name] = join(LIGHT, m.file)
  // One provider holding both models, in its own process, paid per second on anvil.
  const providerDir = join(dir, 'provider')
  const added = await runCli(['model', 'add', aliases.squeezenet!, '--data-dir', providerDir])
  if (added.code !== 0) throw new Error(`model add failed: ${added.stderr}`)
  const { provider, address } = await startProviderCli({
    dataDir: providerDir,
    chainFile,
    privateKey: chain.accounts[2]!.privateKey,
    price: 1000n,
    modelFile: aliases.resnet50!,
  })
  const leaseEnds: Record<string, number> = {}
  const opened = await openGateway({
    client: {
      dataDir: join(dir, 'renter'),
      chain,
      account: privateKeyToAccount(chain.accounts[1]!.privateKey),
      bootstrap: [address],
      leaseSeconds: 60,
      idleMs: 30_000,
      onEvent: (e) => {
        if (e.type === 'lease:ended') {
          const reason = e.summary.endReason ?? 'unknown'
          leaseEnds[reason] = (leaseEnds[reason] ?? 0) + 1
        }
      },
    },
    models: aliases,
  })
  const { gateway } = opened
  const http = await startGatewayHttp(gateway, { port: 0 })
  const url = new URL(http.url)
  const { token } = await gateway.keys.create('bench', { maxPricePerSecond: 10_000n })
  await waitForDhtPeers(gateway.client.node, 1, { signal: AbortSignal.timeout(10_000) })
  while ((await findOffers({ node: gateway.client.node }, { timeoutMs: 2_000 })).length === 0) {
    await new Promise((r) => setTimeout(r, 100))
  }
  const agent = new Agent({ keepAlive: true, maxSockets: 16 })
  const results: Record<string, unknown> = { durationMsPerCell: DURATION_MS }
  const rows: Array<Record<string, string | number>> = []
  try {
    for (const m of MODELS) {
      // The client holds one lease per provider, for one model: the next model gets a lease of its own.
      await gateway.client.endLeases()
      const bytes = await readFile(aliases[m.name]!)
      const signature = await inspectModel(bytes)
      const input = signature.inputs[0]!
      const dims = input.dims.map((d) => (typeof d === 'number' && d > 0 ? d : 1))
      const count = dims.reduce((a, b) => a * b, 1)
      const data = Float32Array.from({ length: count }, (_, i) => ((i * 7919) % 255) / 255)
      const tensor = new Tensor('float32', data, dims)
      const session = await InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 })
      const jsonBody = Buffer.from(
        JSON.stringify({ inputs: [{ name: input.name, datatype: 'FP32', shape: dims, data: Array.from(data) }] }),
      )
      const header = Buffer.from(
        JSON.stringify({
          inputs: [
            { name: input.name, datatype: 'FP32', shape: dims, parameters: { binary_data_size: data.byteLength } },
          ],
          parameters: { binary_data_output: true },
        }),
      )
      const binaryBody = Buffer.concat([header, Buffer.from(data.buffer)])
      const path = `/v2/models/${m.name}/infer`
      const auth = { authorization: `Bearer ${token}` }
      const perModel: Record<string, unknown> = {
        inputDims: dims,
        jsonBodyBytes: jsonBody.byteLength,
        binaryBodyBytes: binaryBody.byteLength,
      }
      for (const concurrency of CONCURRENCY) {
        const cells = await interleaved(
          {
            local: async () => {
              await session.run({ [input.name]: tensor })
            },
            sdk: async () => {
              await gateway.client.infer({ model: bytes, inputs: { [input.name]: tensor }, maxPricePerSecond: 10_000n })
            },
            gatewayJson: async () => {
              await post(agent, url, path, { ...auth, 'content-type': 'application/json' }, jsonBody)
            },
            gatewayBinary: async () => {
              await post(
                agent,
                url,
                path,
                {
                  ...auth,
                  'content-type': 'application/octet-stream',
                  'inference-header-content-length': String(header.byteLength),
                },
                binaryBody,
              )
            },
          },
          concurrency,
        )
        const binaryVsSdk = round(cells.gatewayBinary!.throughputPerSec / cells.sdk!.throughputPerSec, 3)
        perModel[`concurrency${concurrency}`] = { ...cells, binaryThroughputVsSdk: binaryVsSdk }
        for (const [path, c] of Object.entries(cells)) {
          rows.push({
            model: m.name,
            conc: concurrency,
            path,
            'req/s': c.throughputPerSec,
            p50: c.p50Ms,
            p95: c.p95Ms,
            errors: c.errors,
          })
        }
        rows.push({
          model: m.name,
          conc: concurrency,
          path: 'binary/sdk',
          'req/s': binaryVsSdk,
          p50: '',
          p95: '',
          errors: '',
        })
      }
      await session.release()
      results[m.name] = perModel
    }
    const keys = await gateway.keys.list()
    results.spentWei = keys[0]?.spend.total.toString()
    results.leaseEnds = leaseEnds
  } finally {
    agent.destroy()
    await http.stop()
    await opened.close()
    await provider.stop()
    await chain.stop()
  }
  printTable('gateway: one inference, local onnxruntime vs SDK vs gateway JSON vs gateway binary (ms)', rows)
  return results
}
