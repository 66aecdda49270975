import '../../src/polyfill.js'
import { multiaddr } from '@multiformats/multiaddr'
import { Tensor } from 'onnxruntime-node'
import type { Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createClient } from '../../src/client/index.js'

/**
 * A renter in its own process, for crash tests: `node renter-process.js '<json>'` with
 * { dataDir, chain, privateKey, provider, maxPricePerSecond, model }. It leases from the provider, runs one job,
 * prints {leaseId, channelId} as one JSON line, and keeps paying until it is killed.
 */
const args = JSON.parse(process.argv[2]!) as {
  dataDir: string
  chain: { rpcUrl: string; chainId: number; contract: Hex }
  privateKey: Hex
  provider: string
  maxPricePerSecond: string
  model: string
}
const client = await createClient({
  dataDir: args.dataDir,
  chain: args.chain,
  account: privateKeyToAccount(args.privateKey),
})
const lease = await client.lease({
  provider: multiaddr(args.provider),
  maxPricePerSecond: BigInt(args.maxPricePerSecond),
  model: args.model,
})
const result = await lease.infer({
  inputs: {
    a: new Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]),
    b: new Tensor('float32', Float32Array.from([1, 1, 1, 1, 1, 1]), [2, 3]),
  },
})
process.stdout.write(
  `${JSON.stringify({ leaseId: lease.leaseId, channelId: lease.summary().channelId, y: Array.from(result.outputs.y!.data as Float32Array) })}\n`,
)
// Keep paying until killed.
setInterval(() => {}, 60_000)
