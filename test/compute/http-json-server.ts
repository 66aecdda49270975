/**
 * The benchmark's baseline (c): what a user would otherwise build, a node:http server that takes JSON tensors
 * (`{ "inputs": { name: { "dims": [...], "data": [...] } } }`, float32), runs onnxruntime on its main thread and
 * answers JSON outputs. argv: MODEL_PATH [INTRA_OP_THREADS]. Prints `{ "port": N }` once listening; `eld` on stdin
 * prints its event-loop delay since the last `eld`.
 */
import { createServer } from 'node:http'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { InferenceSession, Tensor } from 'onnxruntime-node'

const modelPath = process.argv[2]
if (modelPath === undefined) throw new Error('usage: http-json-server.js MODEL_PATH [INTRA_OP_THREADS]')
const session = await InferenceSession.create(modelPath, {
  intraOpNumThreads: Number(process.argv[3] ?? 1),
  logSeverityLevel: 4,
})

const server = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (chunk: Buffer) => chunks.push(chunk))
  req.on('end', async () => {
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        inputs: Record<string, { dims: number[]; data: number[] }>
      }
      const feeds: Record<string, Tensor> = {}
      for (const [name, t] of Object.entries(body.inputs))
        feeds[name] = new Tensor('float32', Float32Array.from(t.data), t.dims)
      const results = await session.run(feeds)
      const outputs: Record<string, { dims: readonly number[]; data: number[] }> = {}
      for (const [name, t] of Object.entries(results)) {
        outputs[name] = { dims: t.dims, data: Array.from(t.data as Float32Array) }
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ outputs }))
    } catch (err) {
      res.writeHead(400, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: (err as Error).message }))
    }
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => {
  const address = server.address() as { port: number }
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`)
})

const delay = monitorEventLoopDelay({ resolution: 5 })
delay.enable()
const commands = createInterface({ input: process.stdin })
commands.on('line', (line) => {
  if (line.trim() !== 'eld') return
  const ms = (ns: number): number => Math.round(ns / 1e4) / 100
  const report = { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) }
  delay.reset()
  process.stdout.write(`${JSON.stringify({ eld: report })}\n`)
})
commands.on('close', () => {
  server.close()
  process.exit(0)
})
