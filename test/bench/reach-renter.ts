import '../../src/polyfill.js'
import { multiaddr } from '@multiformats/multiaddr'
import { Tensor } from 'onnxruntime-node'
import { createClient } from '../../src/client/index.js'
import { INFER_PROTOCOL } from '../../src/compute/constants.js'
import { createNode } from '../../src/net/create-node.js'
import { loadChainConfig } from '../../src/pay/chain-config.js'
import { resolveEvmAccount } from '../../src/pay/evm-key.js'

/**
 * The reach benchmark's renter, run inside a NAT lab host: `node reach-renter.js '<json>'` with
 * { dataDir, targets: [{ name, addr }], model, sizes: [floats], requests, maxPricePerSecond }. For each target
 * (a provider's direct or relayed multiaddr) it times the first paid result (dial, offer, channel open, lease,
 * model push, run), whether that first lease's infer stream ran on a direct connection, then `requests` sequential
 * requests per input size on a held lease, and every connection to the provider once they ran (relayed or direct:
 * a hole punch may have added a direct one beside the relayed) with its streams' protocols. Prints one JSON line.
 */
const args = JSON.parse(process.argv[2]!) as {
  dataDir: string
  targets: Array<{ name: string; addr: string }>
  model: string
  sizes: number[]
  requests: number
  maxPricePerSecond: string
}
const node = await createNode({ listen: ['/ip4/0.0.0.0/tcp/0'], dhtServer: false, relay: { client: true } })
const client = await createClient({
  dataDir: args.dataDir,
  chain: await loadChainConfig({ dataDir: args.dataDir }),
  account: await resolveEvmAccount({ dataDir: args.dataDir }),
  node,
})
const peerOf = (addr: string): string => addr.slice(addr.lastIndexOf('/p2p/') + 5)
/** Connections to `peer` that carry an infer stream now, relayed or not. */
const carriesInfer = (peer: string) =>
  node
    .getConnections()
    .filter((c) => c.remotePeer.toString() === peer && c.streams.some((st) => st.protocol === INFER_PROTOCOL))
    .map((c) => ({ remoteAddr: c.remoteAddr.toString(), limited: c.limits != null }))
const input = (n: number) => ({ x_float32: new Tensor('float32', new Float32Array(n).fill(1.5), [n]) })
const results = []
for (const target of args.targets) {
  const provider = multiaddr(target.addr)
  const maxPricePerSecond = BigInt(args.maxPricePerSecond)
  const started = performance.now()
  let firstMs: number
  let firstDirect = false
  try {
    await client.infer({ model: args.model, inputs: input(args.sizes[0]!), maxPricePerSecond, provider })
    firstMs = performance.now() - started
    firstDirect = carriesInfer(peerOf(target.addr)).some((c) => !c.limited && !c.remoteAddr.includes('/p2p-circuit'))
  } catch (err) {
    results.push({ name: target.name, error: `${(err as Error).name}: ${(err as Error).message}` })
    continue
  }
  const lease = await client.lease({ model: args.model, maxPricePerSecond, provider })
  const sizes = []
  let error: string | undefined
  for (const n of args.sizes) {
    const latencies: number[] = []
    const inputs = input(n)
    const t0 = performance.now()
    try {
      for (let i = 0; i < args.requests; i++) {
        const t = performance.now()
        await lease.infer({ inputs })
        latencies.push(performance.now() - t)
      }
    } catch (err) {
      error = `${n * 4} B request ${latencies.length + 1}: ${(err as Error).name}: ${(err as Error).message}`
    }
    sizes.push({ floats: n, bytes: n * 4, latencies, totalMs: performance.now() - t0 })
    if (error != null) break
  }
  const connections = node
    .getConnections()
    .filter((c) => c.remotePeer.toString() === peerOf(target.addr))
    .map((c) => ({
      remoteAddr: c.remoteAddr.toString(),
      limited: c.limits != null,
      protocols: c.streams.map((st) => st.protocol ?? ''),
    }))
  const { amountPaid } = await lease.end().catch(() => ({ amountPaid: -1n }))
  results.push({
    name: target.name,
    ...(error != null ? { error } : {}),
    firstMs,
    firstDirect,
    sizes,
    amountPaid: amountPaid.toString(),
    connections,
  })
}
await client.close()
await node.stop()
process.stdout.write(`${JSON.stringify(results)}\n`)
process.exit(0)
