/**
 * A provider in its own process for the two-process tests and the benchmark: a node on 127.0.0.1 serving compute
 * in free mode from the data dir given as argv[2]. Prints one JSON line `{ "addr": ..., "pid": ... }` once ready,
 * stops on SIGTERM or when stdin closes. (Until `parkbench start` wires compute, this stands in for it.)
 * A line `eld` on stdin prints the main thread's event-loop delay since the last `eld` (ms), for the benchmark.
 */
import '../../src/polyfill.js'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { createCompute } from '../../src/compute/index.js'
import { createNode } from '../../src/net/index.js'

const dataDir = process.argv[2]
if (dataDir === undefined) throw new Error('usage: provider-process.js DATA_DIR [WORKERS] [INTRA_OP_THREADS]')
const workers = process.argv[3] === undefined ? undefined : Number(process.argv[3])
const intraOpThreads = process.argv[4] === undefined ? undefined : Number(process.argv[4])
const node = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
const compute = createCompute(node, {
  dataDir,
  freeMode: true,
  ...(workers === undefined ? {} : { workers }),
  ...(intraOpThreads === undefined ? {} : { intraOpThreads }),
})
await compute.start()
process.stdout.write(`${JSON.stringify({ addr: node.getMultiaddrs()[0]!.toString(), pid: process.pid })}\n`)

let stopping = false
const stop = async (): Promise<void> => {
  if (stopping) return
  stopping = true
  await compute.stop()
  await node.stop()
  process.exit(0)
}
process.on('SIGTERM', () => void stop())
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
commands.on('close', () => void stop())
