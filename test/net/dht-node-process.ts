/**
 * A DHT node in its own process, so that a flood test measures this node's memory and nothing else: createNode on
 * 127.0.0.1 with parkbench's defaults. Prints one JSON line `{ "addrs": [...], "peerId": ... }` once ready; each
 * line `stats` on stdin prints `{ "rss", "heapUsed", "providerRecords", "peerAddresses", "guard" }` (records counted
 * in libp2p's own datastore, whatever guards kad-dht; the most addresses the peer store holds for one peer; the
 * guard's own counts); stops when stdin closes.
 */
import '../../src/polyfill.js'
import { createInterface } from 'node:readline'
import { createNode, dhtProviderRecordStats } from '../../src/net/index.js'

interface DatastoreView {
  queryKeys(query: { prefix: string }): AsyncIterable<unknown>
}

const node = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
const datastore = (node as unknown as { components: { datastore: DatastoreView } }).components.datastore
process.stdout.write(
  `${JSON.stringify({ addrs: node.getMultiaddrs().map((a) => a.toString()), peerId: node.peerId.toString() })}\n`,
)

const commands = createInterface({ input: process.stdin })
commands.on('line', (line) => {
  if (line.trim() !== 'stats') return
  void (async () => {
    let providerRecords = 0
    for await (const _ of datastore.queryKeys({ prefix: '/dht/provider/' })) providerRecords++
    let peerAddresses = 0
    for (const peer of await node.peerStore.all()) peerAddresses = Math.max(peerAddresses, peer.addresses.length)
    globalThis.gc?.()
    const { rss, heapUsed } = process.memoryUsage()
    process.stdout.write(
      `${JSON.stringify({ stats: { rss, heapUsed, providerRecords, peerAddresses, guard: dhtProviderRecordStats(node) } })}\n`,
    )
  })()
})
commands.on('close', () => {
  void Promise.resolve(node.stop()).then(() => process.exit(0))
})
