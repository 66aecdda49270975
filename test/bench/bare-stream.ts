/**
 * The bare-stream floor for the compute benchmark: a libp2p stream between two processes (TCP + noise + yamux, the
 * node parkbench builds), no protobuf, no onnxruntime. The client writes an 8-byte header (request and response
 * sizes, uint32 BE) and the request's bytes; the peer, once it has them all, writes the response's bytes. Run as a
 * script it is the peer: prints `{ "addr": ... }` and serves until stdin closes.
 */
import '../../src/polyfill.js'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Uint8ArrayList } from 'uint8arraylist'
import { createNode, type ParkbenchNode } from '../../src/net/create-node.js'

export const BARE_PROTOCOL = '/parkbench-bench/bare/1.0.0'
const HEADER_BYTES = 8

async function send(stream: Stream, bytes: Uint8Array): Promise<void> {
  if (!stream.send(bytes)) await stream.onDrain()
}

/** Count what arrives on `stream`; `onMessage` sees every chunk's length. */
function onBytes(stream: Stream, onMessage: (chunk: Uint8Array | Uint8ArrayList) => void): void {
  stream.addEventListener('message', (event) => onMessage(event.data))
}

function serve(stream: Stream): void {
  let header: Uint8Array | undefined = new Uint8Array(HEADER_BYTES)
  let headerFill = 0
  let want = 0
  let reply = new Uint8Array(0)
  onBytes(stream, (chunk) => {
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    let pos = 0
    while (pos < bytes.byteLength) {
      if (header !== undefined) {
        const take = Math.min(HEADER_BYTES - headerFill, bytes.byteLength - pos)
        header.set(bytes.subarray(pos, pos + take), headerFill)
        headerFill += take
        pos += take
        if (headerFill < HEADER_BYTES) return
        const view = new DataView(header.buffer)
        want = view.getUint32(0)
        const replyBytes = view.getUint32(4)
        if (reply.byteLength !== replyBytes) reply = new Uint8Array(replyBytes)
        header = undefined
      }
      const take = Math.min(want, bytes.byteLength - pos)
      want -= take
      pos += take
      if (want === 0) {
        void send(stream, reply)
        header = new Uint8Array(HEADER_BYTES)
        headerFill = 0
      }
    }
  })
}

/** One open bare stream: `roundTrip()` moves the request's bytes and waits for the response's. */
export interface BareStream {
  roundTrip(): Promise<void>
  close(): Promise<void>
}

export async function openBareStream(
  node: ParkbenchNode,
  addr: Multiaddr,
  requestBytes: number,
  responseBytes: number,
): Promise<BareStream> {
  const stream = await node.dialProtocol(addr, BARE_PROTOCOL)
  const header = new Uint8Array(HEADER_BYTES)
  new DataView(header.buffer).setUint32(0, requestBytes)
  new DataView(header.buffer).setUint32(4, responseBytes)
  const body = new Uint8Array(requestBytes).fill(7)
  let waiting: { left: number; resolve(): void } | undefined
  onBytes(stream, (chunk) => {
    if (waiting === undefined) return
    waiting.left -= chunk.byteLength
    if (waiting.left <= 0) {
      const { resolve } = waiting
      waiting = undefined
      resolve()
    }
  })
  return {
    async roundTrip() {
      const answered = new Promise<void>((resolve) => {
        waiting = { left: responseBytes, resolve }
      })
      await send(stream, header)
      await send(stream, body)
      await answered
    },
    async close() {
      await stream.close()
    },
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const node = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  await node.handle(BARE_PROTOCOL, (stream) => serve(stream))
  process.stdout.write(`${JSON.stringify({ addr: node.getMultiaddrs()[0]!.toString(), pid: process.pid })}\n`)
  createInterface({ input: process.stdin }).on('close', () => {
    void Promise.resolve(node.stop()).then(() => process.exit(0))
  })
}
