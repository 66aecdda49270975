import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'

/**
 * yamux's largest stream window (its default, which create-node keeps): after a stream is paused the peer may
 * still send this much, which the stream then holds unread. A paused stream must be allowed to hold it, or the
 * muxer resets the stream on an honest sender.
 */
export const MUXER_WINDOW_BYTES = 16 * 1024 * 1024

/** Longest unsigned varint: a length prefix that runs on past it is not a length. */
const MAX_VARINT_BYTES = 10

/** Why a frame could not be read; {@link FrameReader.readFrame} throws it and the caller maps it to its errors. */
export class FrameReadError extends Error {
  constructor(
    /** `ended`: the stream ended between frames; `cut-short`: it ended inside one (a frame that will never be whole). */
    readonly reason: 'too-large' | 'bad-length' | 'ended' | 'cut-short',
    message: string,
  ) {
    super(message)
    this.name = 'FrameReadError'
  }
}

/**
 * Reads length-prefixed frames from a libp2p stream with flow control: bytes that arrive are buffered until read,
 * and once `highWaterBytes` wait unread the stream is paused, so the muxer stops granting the peer window and the
 * peer's writes wait (they resume when the reader has drained half of it). A frame whose announced length is over
 * `maxFrameBytes` is refused before its body is read, whatever the length of its length prefix; the stream is not
 * reset, so the caller can still answer. Frames already buffered stay readable after the peer closes or resets.
 */
export class FrameReader {
  private readonly buffer = new Uint8ArrayList()
  private ended = false
  private discarding = false
  private paused = false
  private wake: (() => void) | undefined

  constructor(
    private readonly stream: Stream,
    private readonly maxFrameBytes: number,
    private readonly highWaterBytes: number,
  ) {
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('remoteCloseWrite', this.onEnd)
    stream.addEventListener('close', this.onClose)
    if (stream.status !== 'open' || stream.remoteWriteStatus !== 'writable') this.ended = true
  }

  /** Bytes received and not yet read. */
  get bufferedBytes(): number {
    return this.buffer.byteLength
  }

  /**
   * The next frame's bytes. Throws {@link FrameReadError}: `too-large` (announced length over the limit),
   * `bad-length` (a length prefix that is not a varint), `ended` (the peer closed or reset before a whole frame);
   * or the signal's reason.
   */
  async readFrame(signal?: AbortSignal, maxFrameBytes = this.maxFrameBytes): Promise<Uint8ArrayList> {
    signal?.throwIfAborted()
    const limit = Math.min(maxFrameBytes, this.maxFrameBytes)
    // A frame already buffered is taken without waiting (a lease reads one small frame per tick: no promise chain).
    for (;;) {
      const frame = this.takeFrame(limit)
      if (typeof frame !== 'number') return frame
      await this.waitFor(frame, signal)
    }
  }

  /**
   * The next frame if it is all buffered; else how many bytes must be buffered before it can be (or its length can
   * be read). Throws `too-large` as soon as the length prefix is in, and `bad-length` for a prefix that runs on.
   */
  private takeFrame(limit: number): Uint8ArrayList | number {
    const buffered = this.buffer.byteLength
    let prefixBytes = 0
    for (let i = 0; i < buffered && i < MAX_VARINT_BYTES; i++) {
      if ((this.buffer.get(i) & 0x80) === 0) {
        prefixBytes = i + 1
        break
      }
    }
    if (prefixBytes === 0) {
      if (buffered >= MAX_VARINT_BYTES) throw new FrameReadError('bad-length', 'length prefix is not a varint')
      return buffered + 1
    }
    const length = decodeVarint(this.buffer, prefixBytes)
    if (length > limit) {
      throw new FrameReadError('too-large', `frame of ${length} bytes is over the limit of ${limit}`)
    }
    if (buffered < prefixBytes + length) return prefixBytes + length
    const frame = this.buffer.sublist(prefixBytes, prefixBytes + length)
    this.buffer.consume(prefixBytes + length)
    this.maybeResume()
    return frame
  }

  /** Drop whatever arrives from now on (the framing can no longer be trusted), without pausing the peer. */
  discard(): void {
    this.discarding = true
    this.buffer.consume(this.buffer.byteLength)
    this.resume()
  }

  /** Resolve once `bytes` are buffered; throws `ended` if the peer is done first. */
  private async waitFor(bytes: number, signal: AbortSignal | undefined): Promise<void> {
    while (this.buffer.byteLength < bytes) {
      if (this.ended) {
        throw this.buffer.byteLength === 0
          ? new FrameReadError('ended', 'stream ended')
          : new FrameReadError(
              'cut-short',
              `stream ended ${bytes - this.buffer.byteLength} bytes short of a whole frame`,
            )
      }
      // Reading needs more than the high-water mark holds (a large frame): let the peer send it.
      this.resume()
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          this.wake = undefined
          reject(signal?.reason)
        }
        if (signal?.aborted === true) return onAbort()
        signal?.addEventListener('abort', onAbort, { once: true })
        this.wake = () => {
          signal?.removeEventListener('abort', onAbort)
          this.wake = undefined
          resolve()
        }
      })
    }
  }

  private readonly onMessage = (event: StreamMessageEvent): void => {
    if (this.discarding) return
    this.buffer.append(event.data)
    if (this.buffer.byteLength >= this.highWaterBytes) this.pause()
    this.wake?.()
  }

  private readonly onEnd = (): void => {
    this.ended = true
    this.wake?.()
  }

  private readonly onClose = (_event: StreamCloseEvent): void => {
    this.ended = true
    this.wake?.()
  }

  private pause(): void {
    if (this.paused || this.stream.readStatus !== 'readable') return
    // Whatever window the peer already holds still arrives while paused: the stream must hold it, not reset.
    this.stream.maxReadBufferLength = Math.max(this.stream.maxReadBufferLength, MUXER_WINDOW_BYTES + 65_536)
    this.stream.pause()
    this.paused = true
  }

  private maybeResume(): void {
    if (this.paused && this.buffer.byteLength < this.highWaterBytes / 2) this.resume()
  }

  private resume(): void {
    if (!this.paused) return
    this.paused = false
    if (this.stream.readStatus === 'paused') this.stream.resume()
  }
}

/** The value of the complete varint in the first `bytes` bytes of `list`; past 2^53 it is only a lower bound. */
function decodeVarint(list: Uint8ArrayList, bytes: number): number {
  let value = 0
  for (let i = bytes - 1; i >= 0; i--) value = value * 128 + (list.get(i) & 0x7f)
  return value
}

/** The unsigned varint of `value` (a safe integer). */
export function encodeVarint(value: number): Uint8Array {
  const out: number[] = []
  let rest = value
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80)
    rest = Math.floor(rest / 0x80)
  }
  out.push(rest)
  return Uint8Array.from(out)
}
