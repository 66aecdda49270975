import type { Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import type { ParkbenchNode } from '../../src/net/create-node.js'

/** The protocol the shaped-transport tests move bytes on. */
export const TRANSFER = '/parkbench-test/transfer/1.0.0'

/** Nearest-rank percentile of `values` (NaN when empty). */
export const percentile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
}

/** Read everything sent on {@link TRANSFER} and hand back the bytes when the writer closes. */
export function collectInbound(node: ParkbenchNode): Promise<Uint8ArrayList> {
  return new Promise((resolve, reject) => {
    void node.handle(TRANSFER, async (stream: Stream) => {
      const received = new Uint8ArrayList()
      try {
        for await (const chunk of stream) received.append(chunk)
        await stream.close()
        resolve(received)
      } catch (err) {
        stream.abort(err as Error)
        reject(err)
      }
    })
  })
}

/** Write `chunks` in order, waiting for drain where the stream asks, then close. */
export async function writeAll(stream: Stream, chunks: Uint8Array[], signal: AbortSignal): Promise<void> {
  for (const chunk of chunks) {
    if (!stream.send(chunk)) await stream.onDrain({ signal })
  }
  await stream.close({ signal })
}
