import { createHash } from 'node:crypto'
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import { KAD_PROTOCOL, type ParkbenchNode } from '../../src/net/index.js'

/*
 * kad-dht's wire format by hand, for tests that play a hostile DHT peer: kad-dht does not export its Message codec,
 * and a hostile client would not use it anyway.
 */

function varint(value: number): number[] {
  const out: number[] = []
  let n = value
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80)
    n >>>= 7
  }
  out.push(n)
  return out
}

function lengthDelimited(tag: number, bytes: Uint8Array): number[] {
  return [tag, ...varint(bytes.length), ...bytes]
}

/** The DHT key (a sha2-256 multihash, as kad-dht sends it) for a label. */
export function dhtKey(label: string): Uint8Array {
  return Uint8Array.from([0x12, 0x20, ...createHash('sha256').update(label).digest()])
}

/** kad `Message { type = ADD_PROVIDER, key, providers = [PeerInfo { id, multiaddrs }] }`. */
export function addProviderMessage(key: Uint8Array, peerId: Uint8Array, addrs: Uint8Array[]): Uint8Array {
  const peerInfo = Uint8Array.from([
    ...lengthDelimited(0x0a, peerId),
    ...addrs.flatMap((a) => lengthDelimited(0x12, a)),
  ])
  return Uint8Array.from([0x08, 2, ...lengthDelimited(0x12, key), ...lengthDelimited(0x4a, peerInfo)])
}

/**
 * A peer that sends ADD_PROVIDER for its own id, as fast as the streams take it, on one kad stream at a time: a stream
 * the target resets is replaced by a new one.
 */
export class ProviderFlooder {
  /** Streams the target reset (or closed) under us. */
  resets = 0
  private stream: Stream | undefined
  private writer: ReturnType<typeof lpStream> | undefined

  constructor(
    private readonly node: ParkbenchNode,
    private readonly target: Multiaddr[],
  ) {}

  /**
   * Send one ADD_PROVIDER per key. With `addresses`, the record for the n-th key sent claims those addresses (a
   * flooder inventing new ones each time); without, this node's own.
   */
  async send(keys: Iterable<Uint8Array>, addresses?: (n: number) => Uint8Array[]): Promise<void> {
    const self = this.node.peerId.toMultihash().bytes
    const own = [this.node.getMultiaddrs()[0]!.bytes]
    let sent = 0
    for (const key of keys) {
      if (this.stream === undefined || this.stream.status !== 'open') {
        if (this.stream !== undefined) this.resets++
        this.stream = await this.node.dialProtocol(this.target, KAD_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
        this.writer = lpStream(this.stream)
      }
      await this.writer!.write(addProviderMessage(key, self, addresses?.(sent) ?? own)).catch(() => {})
      // Let the event loop run now and then, so that a reset stream is noticed and replaced.
      if (++sent % 256 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
  }

  /** Close our side (what was sent is still delivered). */
  async close(): Promise<void> {
    await this.stream?.close().catch(() => {})
  }
}
