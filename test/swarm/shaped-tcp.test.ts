import assert from 'node:assert/strict'
import { after, afterEach, describe, it } from 'node:test'
import type { Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { Uint8ArrayList } from 'uint8arraylist'
import { createNode, type ParkbenchNode } from '../../src/net/create-node.js'
import { type NetworkConfig, NetworkModel, NetworkPartitionedError } from '../../src/swarm/network.js'
import { createRandom } from '../../src/swarm/random.js'
import { shapedTcp } from '../../src/swarm/shaped-tcp.js'
import { collectInbound, percentile, TRANSFER, writeAll } from './streams.js'

const CONFIG: NetworkConfig = {
  regions: [{ name: 'eu' }, { name: 'us' }, { name: 'asia' }],
  rttMs: { eu: { eu: 0, us: 80, asia: 120 }, us: { us: 0, asia: 100 }, asia: { asia: 0 } },
  bandwidthClasses: { slow: { upBps: 8_000_000, downBps: 8_000_000 } },
}

/** Stands in for the swarm's directory: which region listens on which loopback port. */
const regionByPort = new Map<string, string>()

const portOf = (ma: Multiaddr): string | undefined => ma.getComponents().find((c) => c.name === 'tcp')?.value

interface TestNode {
  node: ParkbenchNode
  /** The node's own model, as a separate process would build it from the same config. */
  network: NetworkModel
  addr: Multiaddr
}

const running: TestNode[] = []
let seed = 1

async function startNode(
  region: string,
  options: { config?: NetworkConfig; bandwidthClass?: string; listed?: boolean } = {},
): Promise<TestNode> {
  const network = new NetworkModel(options.config ?? CONFIG, createRandom(seed++).next)
  const node = await createNode({
    transports: [
      shapedTcp({
        network,
        region,
        ...(options.bandwidthClass === undefined ? {} : { bandwidthClass: options.bandwidthClass }),
        regionOf: (ma) => {
          const port = portOf(ma)
          return port === undefined ? undefined : regionByPort.get(port)
        },
      }),
    ],
    listen: ['/ip4/127.0.0.1/tcp/0'],
  })
  const addr = node.getMultiaddrs()[0]!
  if (options.listed ?? true) regionByPort.set(portOf(addr)!, region)
  const started = { node, network, addr }
  running.push(started)
  return started
}

async function stopAll(): Promise<void> {
  await Promise.all(running.splice(0).map((n) => n.node.stop()))
}

describe('shaped TCP', () => {
  afterEach(stopAll)
  after(stopAll)

  it('applies the matrix at the dialer: ping RTT is never under the configured 80 ms, from either end', async () => {
    const eu = await startNode('eu')
    const us = await startNode('us')
    const signal = AbortSignal.timeout(10_000)
    const fromDialer: number[] = []
    for (let i = 0; i < 10; i++) fromDialer.push(await eu.node.services.ping.ping(us.addr, { signal }))
    // us pings back over the connection eu dialed: us shapes nothing, eu's side gives the whole round trip.
    const fromListener: number[] = []
    for (let i = 0; i < 10; i++) fromListener.push(await us.node.services.ping.ping(eu.node.peerId, { signal }))
    for (const rtt of [...fromDialer, ...fromListener]) {
      assert.ok(rtt >= 79, `ping RTT ${rtt} ms is under the configured 80 ms`)
    }
    assert.equal(us.node.getConnections(eu.node.peerId).length, 1)
    process.stdout.write(
      `# eu->us ping p50 ${percentile(fromDialer, 0.5)} ms, us->eu (inbound) p50 ${percentile(fromListener, 0.5)} ms (configured 80)\n`,
    )
    const stats = eu.network.linkStats().find((s) => s.from === 'eu' && s.to === 'us')
    assert.ok(stats !== undefined && stats.samples > 0)
    assert.equal(stats.configuredOneWayMs, 40)
    assert.ok(stats.meanActualMs >= 40)
  })

  it('limits bandwidth: 2 MB over an 8 Mbit/s class takes at least 2 s', async () => {
    const sender = await startNode('eu', { bandwidthClass: 'slow' })
    const receiver = await startNode('eu', { bandwidthClass: 'slow' })
    const received = collectInbound(receiver.node)
    const total = 2_000_000
    const chunks = Array.from({ length: total / 10_000 }, () => new Uint8Array(10_000).fill(7))
    const signal = AbortSignal.timeout(20_000)
    const stream = await sender.node.dialProtocol(receiver.addr, TRANSFER, { signal })
    const startedAt = performance.now()
    await writeAll(stream, chunks, signal)
    const bytes = await received
    const elapsed = performance.now() - startedAt
    assert.equal(bytes.byteLength, total)
    process.stdout.write(`# 2 MB at 8 Mbit/s over TCP: ${Math.round(elapsed)} ms (ideal 2000 ms + framing)\n`)
    assert.ok(elapsed >= 2000, `transfer took ${elapsed} ms`)
  })

  it('keeps order and bytes: 5,000 random-sized chunks arrive exactly, with jitter and loss on', async () => {
    const config = { ...CONFIG, jitterMs: 15, loss: 0.01 }
    const sender = await startNode('eu', { config })
    const receiver = await startNode('us', { config })
    const received = collectInbound(receiver.node)
    const random = createRandom(4)
    const chunks = Array.from({ length: 5000 }, () => {
      const chunk = new Uint8Array(random.int(1, 3000))
      for (let i = 0; i < chunk.length; i++) chunk[i] = Math.floor(random.next() * 256)
      return chunk
    })
    const signal = AbortSignal.timeout(20_000)
    const stream = await sender.node.dialProtocol(receiver.addr, TRANSFER, { signal })
    await writeAll(stream, chunks, signal)
    const got = (await received).subarray()
    const expected = new Uint8ArrayList(...chunks).subarray()
    assert.equal(got.byteLength, expected.byteLength)
    assert.ok(Buffer.from(got).equals(Buffer.from(expected)), 'bytes differ')
  })

  it('partitions: the shaped connection is cut, a new dial refused, heal dials again; unknown regions dial plainly', async () => {
    const eu = await startNode('eu')
    const us = await startNode('us')
    const plain = await startNode('asia', { listed: false })
    const signal = AbortSignal.timeout(10_000)
    const connection = await eu.node.dial(us.addr, { signal })
    assert.equal(eu.network.openLinks, 1)
    const disconnected = (node: ParkbenchNode, from: ParkbenchNode): Promise<void> =>
      new Promise((resolve) => {
        node.addEventListener('peer:disconnect', (evt) => {
          if (evt.detail.equals(from.peerId)) resolve()
        })
      })
    const dialerSaw = disconnected(eu.node, us.node)
    const listenerSaw = disconnected(us.node, eu.node)
    // eu's dial resolves before us has finished its side of the upgrade (its last bytes are 40 ms away).
    await waitFor(() => us.node.getConnections(eu.node.peerId).length === 1)
    // Only the dialer's process needs to know: it cuts the connection and us hears the reset.
    eu.network.partition('eu', 'us')
    await Promise.all([dialerSaw, listenerSaw])
    assert.notEqual(connection.status, 'open')
    assert.equal(eu.network.openLinks, 0)
    await assert.rejects(
      eu.node.dial(us.addr, { signal: AbortSignal.timeout(5_000) }),
      (err: Error) =>
        err instanceof NetworkPartitionedError && (err as NetworkPartitionedError).code === 'NETWORK_PARTITIONED',
    )
    eu.network.heal('eu', 'us')
    assert.ok((await eu.node.services.ping.ping(us.addr, { signal })) >= 79)
    // An address the directory does not know: plain TCP, no shaped link tracked for it.
    const plainRtt = await eu.node.services.ping.ping(plain.addr, { signal })
    assert.equal(eu.network.openLinks, 1)
    assert.equal(eu.node.getConnections(plain.node.peerId).length, 1)
    process.stdout.write(`# unshaped ping to an unknown-region address: ${plainRtt} ms\n`)
  })

  it('stops cleanly: no shaped connection, socket or timer is left after the nodes stop mid-transfer', async () => {
    const timersBefore = countResources('Timeout')
    const socketsBefore = countResources('TCPSocketWrap')
    const a = await startNode('eu', { bandwidthClass: 'slow' })
    const b = await startNode('asia')
    void b.node.handle(TRANSFER, async (stream: Stream) => {
      for await (const _ of stream);
    })
    const stream = await a.node.dialProtocol(b.addr, TRANSFER, { signal: AbortSignal.timeout(10_000) })
    // A megabyte queued behind an 8 Mbit/s uplink: the pipes are busy when the nodes stop.
    for (let i = 0; i < 100; i++) stream.send(new Uint8Array(10_000))
    assert.equal(a.network.openLinks, 1)
    const startedAt = performance.now()
    await stopAll()
    const stopMs = Math.round(performance.now() - startedAt)
    process.stdout.write(`# stop with a transfer in flight: ${stopMs} ms\n`)
    assert.equal(a.network.openLinks, 0)
    await waitFor(() => countResources('TCPSocketWrap') <= socketsBefore && countResources('Timeout') <= timersBefore)
  })
})

/** Handles of this kind keeping the process alive (timers, sockets). */
function countResources(kind: string): number {
  return process.getActiveResourcesInfo().filter((r) => r === kind).length
}

/** Poll a condition with a bounded deadline (closing sockets finish on a later tick). */
async function waitFor(condition: () => boolean, ms = 2_000): Promise<void> {
  const deadline = performance.now() + ms
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`still open: ${process.getActiveResourcesInfo().join(', ')}`)
    await new Promise<void>((resolve) => setTimeout(resolve, 10))
  }
}
