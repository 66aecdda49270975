import type { Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'

/*
 * The fuzz client's view of a stream: raw bytes out, unsigned-varint length-prefixed frames in (protocols/README.md:
 * "Every stream protocol frames messages as unsigned-varint length-prefixed protobuf"), and how the stream ended.
 * Deliberately not the project's message-stream helpers: the client must be able to send what they never would.
 */

/** The unsigned varint of `value` (any size: 2^64 and past it too, for prefixes that lie). */
export function varint(value: number | bigint): Uint8Array {
  let v = BigInt(value)
  const out: number[] = []
  while (v >= 0x80n) {
    out.push(Number((v & 0x7fn) | 0x80n))
    v >>= 7n
  }
  out.push(Number(v))
  return Uint8Array.from(out)
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

/** One frame: the varint of the body's length, then the body. */
export function frame(body: Uint8Array): Uint8Array {
  return concat(varint(body.byteLength), body)
}

/** A length prefix that claims `claimed` bytes, followed by `body` (which may be shorter or longer). */
export function lyingFrame(body: Uint8Array, claimed: number | bigint): Uint8Array {
  return concat(varint(claimed), body)
}

/** A length prefix that never ends: every byte has the continuation bit set. */
export function endlessVarint(bytes = 11): Uint8Array {
  return new Uint8Array(bytes).fill(0xff)
}

/** A protobuf field this project never uses, to pad a message: proto3 decoders skip unknown fields. */
const PAD_FIELD = 2047

/** A length-delimited unknown field of `size` bytes in all (tag and length included); size >= 4. */
export function unknownField(size: number, fill = 0x61): Uint8Array {
  const tag = varint((PAD_FIELD << 3) | 2)
  // The length's own varint shrinks as the payload does: find the payload that makes the field exactly `size`.
  for (let payload = size - tag.byteLength - 1; payload >= 0; payload--) {
    const length = varint(payload)
    if (tag.byteLength + length.byteLength + payload === size) {
      return concat(tag, length, new Uint8Array(payload).fill(fill))
    }
  }
  throw new RangeError(`No unknown field is exactly ${size} bytes`)
}

/** `message` padded with an unknown field to exactly `size` bytes (size >= message length + 4). */
export function padTo(message: Uint8Array, size: number): Uint8Array {
  if (size === message.byteLength) return message
  return concat(message, unknownField(size - message.byteLength))
}

/** Read one unsigned varint at `offset`; undefined when the bytes end first (or it runs past 10 bytes). */
export function readVarint(bytes: Uint8Array, offset = 0): { value: bigint; length: number } | undefined {
  let value = 0n
  for (let i = 0; i < 10; i++) {
    const b = bytes[offset + i]
    if (b === undefined) return undefined
    value |= BigInt(b & 0x7f) << BigInt(7 * i)
    if ((b & 0x80) === 0) return { value, length: i + 1 }
  }
  return undefined
}

/** How a stream finished from the client's side. */
export type StreamEnd = 'closed' | 'reset' | 'open'

export type ReadResult = { frame: Uint8Array } | { end: 'closed' | 'reset' } | { timeout: true }

/** A stream driven byte by byte, with every wait bounded. */
export class RawStream {
  readonly stream: Stream
  private readonly buffer = new Uint8ArrayList()
  private remoteEnded = false
  private resetSeen = false
  private waiters: Array<() => void> = []

  constructor(stream: Stream) {
    this.stream = stream
    stream.addEventListener('message', (event) => {
      this.buffer.append(event.data)
      this.wake()
    })
    stream.addEventListener('remoteCloseWrite', () => {
      this.remoteEnded = true
      this.wake()
    })
    stream.addEventListener('close', (event) => {
      if (event.error != null && event.local !== true) this.resetSeen = true
      this.remoteEnded = true
      this.wake()
    })
  }

  /** Did the provider reset the stream (rather than close it)? */
  get wasReset(): boolean {
    return this.resetSeen || this.stream.status === 'reset'
  }

  /**
   * Has the provider stopped sending? Read from the stream's state as well as its events: a stream refused during
   * protocol negotiation changes state without its events reaching the wrapper dialProtocol returns.
   */
  private get ended(): boolean {
    const { status, remoteWriteStatus } = this.stream
    return (
      this.remoteEnded ||
      status === 'reset' ||
      status === 'aborted' ||
      status === 'closed' ||
      remoteWriteStatus === 'closed'
    )
  }

  /** Bytes received and not yet read as frames. */
  get pending(): number {
    return this.buffer.byteLength
  }

  private wake(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  /** Wait for an event, or 50 ms (to look at the stream's state again); false once `deadline` has passed. */
  private async changed(deadline: number): Promise<boolean> {
    const ms = deadline - Date.now()
    if (ms <= 0) return false
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(true), Math.min(ms, 50))
      this.waiters.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
  }

  /**
   * Send raw bytes, waiting (until `deadline`) for the muxer to drain. False when the stream can no longer be
   * written or did not drain in time: the provider stopped reading or reset.
   */
  async send(bytes: Uint8Array, deadline: number): Promise<boolean> {
    const CHUNK = 64 * 1024
    try {
      for (let at = 0; at < bytes.byteLength; at += CHUNK) {
        if (this.stream.writeStatus !== 'writable' || this.stream.status !== 'open') return false
        const more = this.stream.send(bytes.subarray(at, Math.min(at + CHUNK, bytes.byteLength)))
        if (!more) {
          const ms = deadline - Date.now()
          if (ms <= 0) return false
          await this.stream.onDrain({ signal: AbortSignal.timeout(ms) })
        }
      }
      return true
    } catch {
      return false
    }
  }

  /** Close our writing side (a half-close); false when that failed or took past `deadline`. */
  async closeWrite(deadline: number): Promise<boolean> {
    try {
      await this.stream.close({ signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) })
      return true
    } catch {
      return false
    }
  }

  /** Reset the stream from our side. */
  abort(reason = 'fuzz client leaves'): void {
    try {
      this.stream.abort(new Error(reason))
    } catch {}
  }

  /** The next whole frame, or how the stream ended, or a timeout at `deadline`. */
  async readFrame(deadline: number, maxBytes = 512 * 1024 * 1024): Promise<ReadResult> {
    while (true) {
      const bytes = this.buffer.subarray(0, Math.min(this.buffer.byteLength, 10))
      const prefix = readVarint(bytes)
      if (prefix !== undefined) {
        if (prefix.value > BigInt(maxBytes)) return { end: 'reset' }
        const total = prefix.length + Number(prefix.value)
        if (this.buffer.byteLength >= total) {
          const body = this.buffer.subarray(prefix.length, total)
          this.buffer.consume(total)
          return { frame: Uint8Array.from(body) }
        }
      }
      if (this.ended) {
        if (this.buffer.byteLength > 0 && !this.wasReset) {
          // Bytes left that are not a whole frame: the provider ended mid-frame.
          return { end: 'reset' }
        }
        return { end: this.wasReset ? 'reset' : 'closed' }
      }
      if (!(await this.changed(deadline))) return { timeout: true }
    }
  }

  /** Wait until the provider closes or resets its side (dropping any frames), or `deadline` passes ('open'). */
  async waitEnd(deadline: number): Promise<StreamEnd> {
    while (!this.ended) {
      if (!(await this.changed(deadline))) return 'open'
    }
    return this.wasReset ? 'reset' : 'closed'
  }
}
