import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import * as fc from 'fast-check'
import type { ParkbenchNode } from '../../src/net/create-node.js'
import { RawStream } from './wire.js'

/** What came back on a stream, and how it ended. */
export interface Exchanged {
  frames: Uint8Array[]
  /** 'hang': neither closed nor reset by the deadline. 'refused': the stream could not be opened at all. */
  end: 'closed' | 'reset' | 'hang' | 'refused'
  ms: number
}

export interface ExchangeOptions {
  /** Close our side once everything is sent. */
  closeWrite: boolean
  /** The whole exchange's deadline, in ms from now. */
  deadlineMs: number
  /** Stop reading after this many frames (then wait for the end only until `endWaitMs`). */
  maxFrames?: number
  /** After `maxFrames`, how long to wait for the stream to end; default 1,000 ms. */
  endWaitMs?: number
  /** Wait this long before sending (a stalled peer). */
  delayMs?: number
}

/** Open a stream, send `bytes` (as they are), read every frame until the provider ends the stream or time is up. */
export async function exchange(
  node: ParkbenchNode,
  to: PeerId | Multiaddr[],
  protocol: string,
  bytes: Uint8Array,
  options: ExchangeOptions,
): Promise<Exchanged> {
  const started = performance.now()
  const deadline = Date.now() + options.deadlineMs
  let raw: RawStream
  try {
    raw = new RawStream(await node.dialProtocol(to, protocol, { signal: AbortSignal.timeout(5_000) }))
  } catch {
    return { frames: [], end: 'refused', ms: performance.now() - started }
  }
  try {
    if (options.delayMs != null) await new Promise((r) => setTimeout(r, options.delayMs))
    if (bytes.byteLength > 0) await raw.send(bytes, deadline)
    if (options.closeWrite) await raw.closeWrite(deadline)
    return { ...(await readAll(raw, deadline, options)), ms: performance.now() - started }
  } finally {
    raw.abort()
  }
}

/** Read frames until the stream ends, `maxFrames` arrive (then wait briefly for the end), or the deadline. */
export async function readAll(
  raw: RawStream,
  deadline: number,
  options: { maxFrames?: number; endWaitMs?: number } = {},
): Promise<Omit<Exchanged, 'ms'>> {
  const frames: Uint8Array[] = []
  while (frames.length < (options.maxFrames ?? Number.POSITIVE_INFINITY)) {
    const read = await raw.readFrame(deadline)
    if ('frame' in read) frames.push(read.frame)
    else if ('end' in read) return { frames, end: read.end }
    else return { frames, end: 'hang' }
  }
  const end = await raw.waitEnd(Math.min(deadline, Date.now() + (options.endWaitMs ?? 1_000)))
  return { frames, end: end === 'open' ? 'hang' : end }
}

/** Samples of `arbitrary` from a fixed seed: the same cases every run. */
export function sample<T>(arbitrary: fc.Arbitrary<T>, seed: number, count: number): T[] {
  if (count <= 0) return []
  return fc.sample(arbitrary, { seed, numRuns: count })
}

/** Random bytes of `min` to `max` length (biased towards short and boundary lengths by fast-check). */
export const bytesArb = (min: number, max: number): fc.Arbitrary<Uint8Array> =>
  fc.uint8Array({ minLength: min, maxLength: max })
