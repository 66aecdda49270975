import type { AbortOptions, Stream } from '@libp2p/interface'
import type { pbStream } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import { MalformedMessageError, UnexpectedEndError } from './errors.js'
import { encodeVarint, FrameReadError, FrameReader } from './frame-reader.js'

/** What reading a message needs from its protons codec. */
export interface MessageDecoder<T> {
  decode(bytes: Uint8Array | Uint8ArrayList): T
}

/**
 * What writing a message needs from its protons codec, or from an encoder that hands back the message as a list of
 * pieces (large byte fields referenced, not copied into one buffer).
 */
export interface MessageEncoder<T> {
  encode(message: T): Uint8Array | Uint8ArrayList
}

/** What protons generates for every message: an encoder and a decoder. */
export interface MessageCodec<T> extends MessageDecoder<T> {
  encode(message: T): Uint8Array
}

/** A stream framed as length-prefixed protobuf, as `pbStream` from @libp2p/utils makes it (see {@link readMessage}). */
export type ProtobufStream = ReturnType<typeof pbStream>

/**
 * How a failed read becomes a typed error. Net's own errors by default; a protocol whose answers carry statuses
 * (compute) passes its own, so that the error it catches is the status it answers with.
 */
export interface FrameErrors {
  /** The frame's length is over `maxDataLength`, or more than `maxBufferSize` bytes arrived unread. */
  tooLarge(label: string, cause: Error): Error
  /** The frame does not decode (or its length prefix does not). */
  malformed(label: string, cause: Error): Error
  /** The read's own signal aborted: a deadline or the caller giving up. */
  aborted(signal: AbortSignal, cause: Error): Error
}

/** Net's mapping: oversized and undecodable frames are MalformedMessageError; an abort stays the signal's error. */
export const NET_FRAME_ERRORS: FrameErrors = {
  tooLarge: (label, cause) => new MalformedMessageError(`Could not read ${label}: ${cause.message}`, { cause }),
  malformed: (label, cause) => new MalformedMessageError(`Could not read ${label}: ${cause.message}`, { cause }),
  aborted: (_signal, cause) => cause,
}

/**
 * Whether an {@link UnexpectedEndError} came from a stream that ended inside a frame (the peer closed or went away
 * mid-write), not between frames.
 */
export function endedMidFrame(err: Error): boolean {
  return err.cause instanceof FrameReadError && err.cause.reason === 'cut-short'
}

export interface ReadOptions extends AbortOptions {
  /** What the frame is, for error messages ("Infer request"). Default "message". */
  label?: string
  /** A tighter frame limit for this read than the stream's (e.g. a control frame among large chunks). */
  maxDataLength?: number
}

export interface ReadFailureOptions {
  errors?: FrameErrors
  /** Called before throwing for a frame that is over the limit or does not decode. */
  onInvalidFrame?(): void
}

const TOO_LARGE = new Set(['InvalidDataLengthError', 'InvalidDataLengthLengthError', 'StreamBufferError'])
const ENDED = new Set(['UnexpectedEOFError', 'StreamResetError', 'StreamAbortedError'])

/**
 * Read one length-prefixed protobuf message and map every low-level failure onto a typed error: the read's signal
 * first (`errors.aborted`), then an oversized frame (`errors.tooLarge`), a peer that hung up or reset the stream
 * ({@link UnexpectedEndError}), and anything else that does not decode (`errors.malformed`).
 */
export async function readMessage<T>(
  pb: ProtobufStream,
  codec: MessageDecoder<T>,
  options: ReadOptions = {},
  failure: ReadFailureOptions = {},
): Promise<T> {
  try {
    return await pb.read(codec, options.signal === undefined ? {} : { signal: options.signal })
  } catch (caught) {
    const err = caught as Error
    const errors = failure.errors ?? NET_FRAME_ERRORS
    const label = options.label ?? 'message'
    if (options.signal?.aborted === true) throw errors.aborted(options.signal, err)
    if (ENDED.has(err.name)) throw new UnexpectedEndError(undefined, { cause: err })
    if (err.name === 'AbortError' || err.name === 'TimeoutError') throw err
    failure.onInvalidFrame?.()
    throw TOO_LARGE.has(err.name) ? errors.tooLarge(label, err) : errors.malformed(label, err)
  }
}

export interface MessageStreamInit {
  /** The largest frame read, in bytes. */
  maxDataLength: number
  /**
   * The most bytes held unread (the frame being read and what arrived after it). A frame longer than this is
   * refused as too large like one over `maxDataLength`; once this much waits unread the stream is paused, so the
   * muxer's flow control holds the peer back until the reader catches up (the peer's writes wait, nothing is
   * reset). Default 4 MiB.
   */
  maxBufferSize?: number
  /** How read failures become typed errors. Default {@link NET_FRAME_ERRORS}. */
  errors?: FrameErrors
  /**
   * Past a frame that is over the limit, or whose length prefix is not a varint, the framing cannot be trusted:
   * stop reading the stream (whatever else arrives is dropped, and the peer is not held back, so it can finish
   * its upload and read the answer) and leave it writable, so the caller can still say why. Default false.
   */
  discardAfterInvalidFrame?: boolean
}

export interface WriteOptions extends AbortOptions {
  /**
   * How long the frame may take once its turn has come (the stream backed up), in ms; unlike `signal`, the wait
   * behind earlier writes does not count.
   */
  timeoutMs?: number
}

const settled = (): void => {}

/** How long a peer has to close its side of a finished exchange before the stream is reset. */
export const CLOSE_GRACE_MS = 1_000

/** The read buffer of pbStream, and ours, by default. */
const DEFAULT_MAX_BUFFER_SIZE = 4 * 1024 * 1024

/**
 * One stream framed as length-prefixed protobuf, read and written the way every parkbench protocol does it. Reads
 * are flow-controlled ({@link FrameReader}: a reader that falls behind pauses the peer instead of overflowing) and
 * map failures onto typed errors. Writes are serialised: each waits for the ones before it,
 * so frames written from concurrent tasks (answers of pipelined jobs, ticks and vouchers) go out whole and in call
 * order. A write whose signal aborts while it waits for its turn is dropped (nothing is sent) and fails alone, as
 * does a message that does not encode. A frame handed to the stream that cannot be delivered - the stream died, or
 * its deadline passed while the stream was backed up (the peer stopped reading) - fails the queue: that write and
 * every write waiting or made after it reject with its error.
 */
export class MessageStream {
  readonly stream: Stream
  private readonly reader: FrameReader
  private readonly errors: FrameErrors
  private readonly discardAfterInvalidFrame: boolean
  /** Settles (never rejects) when the last write made so far has settled. */
  private tail: Promise<void> = Promise.resolve()
  private broken: Error | undefined

  constructor(stream: Stream, init: MessageStreamInit) {
    this.stream = stream
    const maxBufferSize = init.maxBufferSize ?? DEFAULT_MAX_BUFFER_SIZE
    this.reader = new FrameReader(stream, Math.min(init.maxDataLength, maxBufferSize), maxBufferSize)
    this.errors = init.errors ?? NET_FRAME_ERRORS
    this.discardAfterInvalidFrame = init.discardAfterInvalidFrame === true
  }

  /** The error that failed the write queue, if one did. */
  get writeError(): Error | undefined {
    return this.broken
  }

  /** Read the next frame as `codec`; failures are mapped as {@link readFrame} maps them, or `errors.malformed`. */
  async read<T>(codec: MessageDecoder<T>, options: ReadOptions = {}): Promise<T> {
    const frame = await this.readFrame(options)
    try {
      return codec.decode(frame)
    } catch (err) {
      throw this.errors.malformed(options.label ?? 'message', err as Error)
    }
  }

  /**
   * The next frame's bytes, undecoded. One read at a time. Throws `errors.aborted` when the read's signal aborts,
   * `errors.tooLarge` for a frame over the limit (its length prefix is enough to know), `errors.malformed` for a
   * length prefix that is not a varint, and {@link UnexpectedEndError} when the peer closed or reset the stream
   * before a whole frame arrived.
   */
  async readFrame(options: ReadOptions = {}): Promise<Uint8ArrayList> {
    const label = options.label ?? 'message'
    try {
      return await this.reader.readFrame(options.signal, options.maxDataLength)
    } catch (caught) {
      const err = caught as Error
      if (options.signal?.aborted === true) throw this.errors.aborted(options.signal, err)
      if (!(err instanceof FrameReadError)) throw err
      // The peer's end, between frames or inside one ({@link endedMidFrame} tells them apart).
      if (err.reason === 'ended' || err.reason === 'cut-short') throw new UnexpectedEndError(undefined, { cause: err })
      if (this.discardAfterInvalidFrame) this.discardReads()
      throw err.reason === 'too-large' ? this.errors.tooLarge(label, err) : this.errors.malformed(label, err)
    }
  }

  /**
   * Stop reading: whatever the peer still sends is dropped without holding it back, so a peer that is refused
   * mid-upload can finish writing and read the answer. The stream stays writable.
   */
  discardReads(): void {
    this.reader.discard()
    if (this.stream.readStatus === 'readable' || this.stream.readStatus === 'paused') {
      void this.stream.closeRead().catch(() => {})
    }
  }

  /** Write one frame after every write made before it; see the class for how failures spread. */
  write<T>(message: T, codec: MessageEncoder<T>, options: WriteOptions = {}): Promise<void> {
    const turn = this.tail
    const written = this.writeInTurn(turn, message, codec, options)
    // The next write waits for this one and for everything before it, even when this one gave up early.
    this.tail = written.then(settled, settled).then(() => turn)
    return written
  }

  /** Resolve once every write made so far has settled; reject with the queue's error if it failed. */
  async flush(options: AbortOptions = {}): Promise<void> {
    await untilSettled(this.tail, options.signal)
    if (this.broken !== undefined) throw this.broken
  }

  /** Close the stream once the writes made so far have settled (their failures are theirs to report). */
  async close(options: AbortOptions = {}): Promise<void> {
    await untilSettled(this.tail, options.signal)
    await this.stream.close(options)
  }

  /**
   * Close our side once the writes made so far have settled, and reset the stream if the peer has not closed its side
   * within `graceMs` (default {@link CLOSE_GRACE_MS}): a finished or refused exchange then holds no stream (libp2p
   * counts a half-closed stream against `maxInboundStreams` until both sides closed) for a peer that never closes.
   * Resolves once our side is closed, not after the grace.
   */
  async end(options: AbortOptions & { graceMs?: number } = {}): Promise<void> {
    await this.close(options)
    const { stream } = this
    if (stream.status !== 'open' && stream.status !== 'closing') return
    const timer = setTimeout(
      () => this.abort(new UnexpectedEndError('The peer did not close its side of a finished exchange')),
      options.graceMs ?? CLOSE_GRACE_MS,
    )
    timer.unref()
    stream.addEventListener('close', () => clearTimeout(timer), { once: true })
  }

  /** Reset the stream: pending and later writes fail with `err`. */
  abort(err: Error): void {
    this.broken ??= err
    this.stream.abort(err)
  }

  private async writeInTurn<T>(
    turn: Promise<void>,
    message: T,
    codec: MessageEncoder<T>,
    options: WriteOptions,
  ): Promise<void> {
    if (this.broken !== undefined) throw this.broken
    await untilSettled(turn, options.signal)
    if (this.broken !== undefined) throw this.broken
    options.signal?.throwIfAborted()
    // Encoded first: a message that does not encode fails alone (nothing was sent).
    const bytes = codec.encode(message)
    try {
      if (this.stream.send(new Uint8ArrayList(encodeVarint(bytes.byteLength), bytes))) return
      // Backed up: only now is there anything to time out (no timer per frame on a stream that keeps up).
      const deadline = withTimeout(options.signal, options.timeoutMs)
      try {
        await this.stream.onDrain(deadline.signal === undefined ? {} : { signal: deadline.signal })
      } finally {
        deadline.clear()
      }
    } catch (err) {
      this.broken ??= err as Error
      throw err
    }
  }
}

/** Frame `stream` as length-prefixed protobuf with a serialised writer; see {@link MessageStream}. */
export function createMessageStream(stream: Stream, init: MessageStreamInit): MessageStream {
  return new MessageStream(stream, init)
}

/** Wait for `promise` (which never rejects), or reject with the signal's reason if it aborts first. */
function untilSettled(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return promise
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    void promise.then(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    })
  })
}

/** `signal`, or one that also aborts after `timeoutMs`; `clear()` drops the timer and the listener. */
function withTimeout(
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
): { signal: AbortSignal | undefined; clear(): void } {
  if (timeoutMs === undefined) return { signal, clear: settled }
  const controller = new AbortController()
  const timer = setTimeout(
    () => controller.abort(new DOMException('The operation timed out', 'TimeoutError')),
    timeoutMs,
  )
  const onAbort = (): void => controller.abort(signal?.reason)
  signal?.addEventListener('abort', onAbort, { once: true })
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    },
  }
}
