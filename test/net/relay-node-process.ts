/**
 * A libp2p node in its own process (run inside a NAT lab namespace by test/net/relay.test.ts):
 * `node relay-node-process.js '<json NodeInit subset>'`. It prints JSON lines on stdout: `{"event":"ready",...}` once
 * started, `{"event":"addrs",...}` whenever its own addresses change, `{"event":"connection",...}` for every
 * connection opened or closed. It answers JSON commands on stdin, one a line, `{"id":1,"cmd":"ping","addr":"..."}`,
 * with `{"id":1,"result":...}` or `{"id":1,"error":{"name","code","message"}}`; it stops when stdin closes.
 * Commands: `ping` (libp2p ping over a connection to addr), `echo` (send `bytes` random bytes on the echo protocol
 * and check they come back), `dial` (open a connection; `runOnLimitedConnection: false` demands a direct one),
 * `connections` (this node's connections to `peer`).
 */
import '../../src/polyfill.js'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import type { Connection, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { Uint8ArrayList } from 'uint8arraylist'
import { createNode, type NodeInit } from '../../src/net/index.js'

/** A test-only protocol: the handler writes back every byte it reads, and closes when the writer has. */
export const ECHO_PROTOCOL = '/parkbench/test-echo/1.0.0'
const COMMAND_TIMEOUT_MS = 15_000

interface Command {
  id: number
  cmd: 'ping' | 'echo' | 'dial' | 'connections'
  addr?: string
  peer?: string
  bytes?: number
  runOnLimitedConnection?: boolean
}

type Init = Pick<NodeInit, 'listen' | 'bootstrap' | 'relay'>
const init = JSON.parse(process.argv[2] ?? '{}') as Init
const print = (message: unknown): void => {
  process.stdout.write(
    `${JSON.stringify(message, (_key, value) => (typeof value === 'bigint' ? `${value}` : value))}\n`,
  )
}
const describeConnection = (connection: Connection) => ({
  peer: connection.remotePeer.toString(),
  remoteAddr: connection.remoteAddr.toString(),
  direction: connection.direction,
  limited: connection.limits != null,
  status: connection.status,
  // libp2p's limits are getters (bytes left, seconds left), which JSON.stringify does not see.
  limits:
    connection.limits != null ? { bytes: connection.limits.bytes, seconds: connection.limits.seconds } : undefined,
})

const node = await createNode({
  ...init,
  dhtServer: false,
  // The lab's hosts are one per namespace, but a test makes several connections at once from one NAT address.
  connections: { inboundConnectionThreshold: 1000 },
})
await node.handle(
  ECHO_PROTOCOL,
  async (stream: Stream) => {
    try {
      for await (const chunk of stream) {
        if (!stream.send(chunk)) await stream.onDrain({ signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS) })
      }
      await stream.close({ signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS) })
    } catch (err) {
      stream.abort(err as Error)
    }
  },
  { runOnLimitedConnection: true, maxInboundStreams: 4 },
)
node.addEventListener('self:peer:update', () => {
  print({ event: 'addrs', addrs: node.getMultiaddrs().map((a) => a.toString()) })
})
node.addEventListener('connection:open', (evt) =>
  print({ event: 'connection', open: true, ...describeConnection(evt.detail) }),
)
node.addEventListener('connection:close', (evt) =>
  print({ event: 'connection', open: false, ...describeConnection(evt.detail) }),
)
print({ event: 'ready', peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map((a) => a.toString()) })

async function echo(addr: string, bytes: number, signal: AbortSignal) {
  const connection = await node.dial(multiaddr(addr), { signal })
  const stream = await connection.newStream(ECHO_PROTOCOL, { signal, runOnLimitedConnection: true })
  const sent = randomBytes(bytes)
  const started = Date.now()
  try {
    const reading = (async () => {
      const received = new Uint8ArrayList()
      for await (const chunk of stream) received.append(chunk)
      return received.subarray()
    })()
    for (let at = 0; at < sent.length; at += 1024) {
      if (!stream.send(sent.subarray(at, at + 1024))) await stream.onDrain({ signal })
    }
    await stream.close({ signal })
    const received = await reading
    return {
      sent: sent.length,
      received: received.length,
      match: Buffer.compare(sent, received) === 0,
      ms: Date.now() - started,
      connection: describeConnection(connection),
    }
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

async function run(command: Command, signal: AbortSignal): Promise<unknown> {
  switch (command.cmd) {
    case 'ping':
      return { rttMs: await node.services.ping.ping(multiaddr(command.addr!), { signal }) }
    case 'echo':
      return echo(command.addr!, command.bytes ?? 4096, signal)
    case 'dial': {
      const connection = await node.dial(multiaddr(command.addr!), {
        signal,
        ...(command.runOnLimitedConnection != null ? { runOnLimitedConnection: command.runOnLimitedConnection } : {}),
      })
      return describeConnection(connection)
    }
    case 'connections':
      return node.getConnections(peerIdFromString(command.peer!)).map(describeConnection)
    default:
      throw new Error(`unknown command ${JSON.stringify(command)}`)
  }
}

const commands = createInterface({ input: process.stdin })
commands.on('line', (line) => {
  const command = JSON.parse(line) as Command
  run(command, AbortSignal.timeout(COMMAND_TIMEOUT_MS)).then(
    (result) => print({ id: command.id, result }),
    (err: Error & { code?: string }) =>
      print({ id: command.id, error: { name: err.name, code: err.code, message: err.message } }),
  )
})
commands.on('close', () => {
  void Promise.resolve(node.stop()).then(() => process.exit(0))
})
