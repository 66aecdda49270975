import '../../src/polyfill.js'
import { createInterface } from 'node:readline'
import { multiaddr } from '@multiformats/multiaddr'
import { Tensor } from 'onnxruntime-node'
import type { Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createClient } from '../../src/client/index.js'

/**
 * The honest renter of the fuzz run, in a process of its own and on a node of its own: the project's SDK, used as a
 * user would. `node honest-renter-process.js '<json>'` with { dataDir, chain, privateKey, provider, model, price };
 * each line `probe <deadlineMs>` on stdin takes a lease, runs one inference (Add on 2x3), checks it, ends the lease
 * and answers one JSON line { ok, ms, error? }.
 */
const args = JSON.parse(process.argv[2]!) as {
  dataDir: string
  chain: { rpcUrl: string; chainId: number; contract: Hex }
  privateKey: Hex
  provider: string
  model: string
  price: string
}
const client = await createClient({
  dataDir: args.dataDir,
  chain: args.chain,
  account: privateKeyToAccount(args.privateKey),
})

async function probe(deadlineMs: number): Promise<{ ok: boolean; ms: number; error?: string }> {
  const started = performance.now()
  const signal = AbortSignal.timeout(deadlineMs)
  try {
    const lease = await client.lease(
      { provider: multiaddr(args.provider), maxPricePerSecond: BigInt(args.price), model: args.model },
      { signal },
    )
    try {
      const result = await lease.infer(
        {
          inputs: {
            a: new Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]),
            b: new Tensor('float32', Float32Array.from([10, 10, 10, 10, 10, 10]), [2, 3]),
          },
        },
        { signal },
      )
      const y = Array.from(result.outputs.y!.data as Float32Array)
      if (y.join(',') !== '11,12,13,14,15,16') throw new Error(`wrong result ${y.join(',')}`)
    } finally {
      await lease.end()
    }
    return { ok: true, ms: performance.now() - started }
  } catch (err) {
    const e = err as Error & { code?: string }
    return { ok: false, ms: performance.now() - started, error: `${e.name} ${e.code ?? ''} ${e.message}` }
  }
}

process.stdout.write('ready\n')
for await (const line of createInterface({ input: process.stdin })) {
  const [op, deadline] = line.trim().split(' ')
  if (op === 'probe') process.stdout.write(`${JSON.stringify(await probe(Number(deadline) || 10_000))}\n`)
  if (op === 'stop') break
}
await client.close()
process.exit(0)
