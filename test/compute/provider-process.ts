/**
 * A provider in its own process for the two-process tests and the benchmark: a node on 127.0.0.1 serving compute
 * in free mode from the data dir given as argv[2]. Prints one JSON line `{ "addr": ..., "pid": ... }` once ready,
 * stops on SIGTERM or when stdin closes. (Until `parkbench start` wires compute, this stands in for it.)
 */
import '../../src/polyfill.js'
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
process.stdin.on('end', () => void stop())
process.stdin.resume()
