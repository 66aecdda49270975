import '../../src/polyfill.js'
import { createInterface } from 'node:readline'
import { Tensor } from 'onnxruntime-node'
import { createClient } from '../../src/client/index.js'
import { createNode } from '../../src/net/create-node.js'
import { loadChainConfig } from '../../src/pay/chain-config.js'
import { resolveEvmAccount } from '../../src/pay/evm-key.js'

/**
 * A renter that keeps asking, for failover tests: `node looping-renter-process.js '<json>'` with
 * { dataDir, bootstrap: [addr], model, maxPricePerSecond, everyMs }. It calls `client.infer()` (the automatic path:
 * discovery, lease, payment, failover) on the add model every `everyMs` and prints a JSON line per answer:
 * `{ result: { provider, leaseId, y, via, connections } }` (`via`: the remote address of its first connection to that
 * provider; `connections`: every connection to it, relayed or not, with the protocols of the streams open on it) or
 * `{ error: { name, message } }`. When stdin closes it ends its leases and prints
 * `{ summary: { leases: [{ leaseId, providerPeer, channelId, amountPaid }], channels: { id: authorised } } }`.
 */
const args = JSON.parse(process.argv[2]!) as {
  dataDir: string
  bootstrap: string[]
  model: string
  maxPricePerSecond: string
  everyMs: number
}
const print = (line: object): void => {
  process.stdout.write(`${JSON.stringify(line, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`)
}
const node = await createNode({
  listen: ['/ip4/0.0.0.0/tcp/0'],
  bootstrap: args.bootstrap,
  dhtServer: false,
  relay: { client: true },
})
const client = await createClient({
  dataDir: args.dataDir,
  chain: await loadChainConfig({ dataDir: args.dataDir }),
  account: await resolveEvmAccount({ dataDir: args.dataDir }),
  bootstrap: args.bootstrap,
  node,
})
let running = true
createInterface({ input: process.stdin }).on('close', () => {
  running = false
})
const inputs = {
  a: new Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]),
  b: new Tensor('float32', Float32Array.from([10, 10, 10, 10, 10, 10]), [2, 3]),
}
while (running) {
  try {
    const result = await client.infer({
      model: args.model,
      inputs,
      maxPricePerSecond: BigInt(args.maxPricePerSecond),
    })
    const toProvider = node.getConnections().filter((c) => c.remotePeer.toString() === result.providerPeer)
    print({
      result: {
        provider: result.providerPeer,
        leaseId: result.leaseId,
        y: Array.from(result.outputs.y!.data as Float32Array),
        via: toProvider[0]?.remoteAddr.toString(),
        connections: toProvider.map((c) => ({
          addr: c.remoteAddr.toString(),
          relayed: c.remoteAddr.toString().includes('/p2p-circuit'),
          protocols: c.streams.map((s) => s.protocol ?? ''),
        })),
      },
    })
  } catch (err) {
    print({ error: { name: (err as Error).name, message: (err as Error).message } })
  }
  await new Promise((resolve) => setTimeout(resolve, args.everyMs))
}
await client.endLeases()
const leases = client.leaseHistory()
const channels: Record<string, bigint> = {}
for (const id of await client.channelIds()) channels[id] = client.channelTotal(id)
print({
  summary: {
    leases: leases.map((l) => ({
      leaseId: l.leaseId,
      providerPeer: l.providerPeer,
      channelId: l.channelId,
      amountPaid: l.amountPaid,
      pricePerSecond: l.pricePerSecond,
    })),
    channels,
  },
})
await client.close()
await node.stop()
process.exit(0)
