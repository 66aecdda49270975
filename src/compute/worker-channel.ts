/**
 * The data channel between the provider and an inference worker process: a stream socket (a socketpair the
 * worker inherits as fd {@link WORKER_DATA_FD}) that carries a job's input tensors to the worker and its outputs
 * back as their raw bytes. The IPC channel beside it (advanced serialization) carries only the small control
 * messages; before this channel existed a 602 KB input was v8-serialized into a growing buffer, written,
 * reassembled and deserialized again, and those short-lived megabytes were what drove the provider's
 * mark-compact collections (docs/fast-path.md).
 *
 * A message: `u32 headerBytes`, `u32 payloadBytes` (little-endian), the header as UTF-8 JSON, then the payload.
 * Numeric tensors are listed in the header with their `offset` into the payload (a multiple of 8, so every typed
 * array can view it in place) and `byteLength`; string tensors carry their strings in the header. The writer never
 * copies tensor bytes (they go to the socket as a gather write); the reader copies each arriving chunk once, into
 * the payload buffer it hands out.
 */
import type { Socket } from 'node:net'
import type { TensorDtype } from './tensor.js'
import type { NamedTensor } from './worker-messages.js'

/** The file descriptor the worker process inherits the channel on. */
export const WORKER_DATA_FD = 4

const PREFIX_BYTES = 8
const ALIGN = 8

/** A tensor as the header lists it. */
export type ChannelTensor =
  | { name: string; dtype: 'string'; dims: number[]; data: string[] }
  | { name: string; dtype: Exclude<TensorDtype, 'string'>; dims: number[]; offset: number; byteLength: number }

/** Why a channel message could not be read: the peer broke the framing or went over a limit. */
export class ChannelError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ChannelError'
  }
}

/**
 * Write one message: `header` (JSON-able, without the tensors) and `tensors` under the header's `tensorsKey`.
 * Returns false when the socket's buffer is full (the bytes are queued, not lost; the tensors' buffers are held
 * until written, so the caller must not reuse them before the socket drains).
 */
export function writeChannelMessage(
  socket: Socket,
  header: Record<string, unknown>,
  tensorsKey: string,
  tensors: readonly NamedTensor[],
): boolean {
  const listed: ChannelTensor[] = []
  const parts: Uint8Array[] = []
  let payloadBytes = 0
  for (const tensor of tensors) {
    if (tensor.dtype === 'string') {
      listed.push({ name: tensor.name, dtype: 'string', dims: [...tensor.dims], data: tensor.data as string[] })
      continue
    }
    const bytes = tensor.data as Uint8Array
    const pad = (ALIGN - (payloadBytes % ALIGN)) % ALIGN
    if (pad > 0) parts.push(new Uint8Array(pad))
    payloadBytes += pad
    listed.push({
      name: tensor.name,
      dtype: tensor.dtype,
      dims: [...tensor.dims],
      offset: payloadBytes,
      byteLength: bytes.byteLength,
    })
    parts.push(bytes)
    payloadBytes += bytes.byteLength
  }
  const json = Buffer.from(JSON.stringify({ ...header, [tensorsKey]: listed }), 'utf8')
  const prefix = Buffer.allocUnsafe(PREFIX_BYTES)
  prefix.writeUInt32LE(json.byteLength, 0)
  prefix.writeUInt32LE(payloadBytes, 4)
  socket.cork()
  let ok = socket.write(prefix)
  ok = socket.write(json) && ok
  for (const part of parts) if (part.byteLength > 0) ok = socket.write(part) && ok
  socket.uncork()
  return ok
}

/** Views of a message's tensors onto its payload (numeric data is not copied). */
export function channelTensors(listed: readonly ChannelTensor[], payload: Uint8Array): NamedTensor[] {
  return listed.map((t) => {
    if (t.dtype === 'string') return { name: t.name, dtype: 'string', dims: t.dims, data: t.data }
    if (t.offset < 0 || t.byteLength < 0 || t.offset + t.byteLength > payload.byteLength) {
      throw new ChannelError(`tensor ${t.name} runs past the payload`)
    }
    return {
      name: t.name,
      dtype: t.dtype,
      dims: t.dims,
      data: new Uint8Array(payload.buffer, payload.byteOffset + t.offset, t.byteLength),
    }
  })
}

export interface ChannelReaderInit {
  /** Largest header accepted, in bytes. */
  maxHeaderBytes: number
  /** Largest payload accepted, in bytes. */
  maxPayloadBytes: number
  /**
   * Where a payload of `bytes` is read into. Default: a new buffer each time. The worker reuses one buffer for
   * every job (it runs one job at a time, and a job's inputs are dead once it answers).
   */
  payloadBuffer?(bytes: number): Uint8Array
  onMessage(header: Record<string, unknown>, payload: Uint8Array): void
  /** The framing broke or a limit was passed: the channel cannot be read any further. */
  onError(err: ChannelError): void
}

/** Reads channel messages from the chunks a socket delivers. */
export class ChannelReader {
  private prefix = Buffer.alloc(PREFIX_BYTES)
  private prefixFill = 0
  private header: Buffer | undefined
  private headerFill = 0
  private payload: Uint8Array | undefined
  private payloadFill = 0
  private failed = false

  constructor(private readonly init: ChannelReaderInit) {}

  push(chunk: Uint8Array): void {
    let pos = 0
    while (pos < chunk.byteLength && !this.failed) {
      if (this.header === undefined) {
        const take = Math.min(PREFIX_BYTES - this.prefixFill, chunk.byteLength - pos)
        this.prefix.set(chunk.subarray(pos, pos + take), this.prefixFill)
        this.prefixFill += take
        pos += take
        if (this.prefixFill < PREFIX_BYTES) return
        const headerBytes = this.prefix.readUInt32LE(0)
        const payloadBytes = this.prefix.readUInt32LE(4)
        if (headerBytes > this.init.maxHeaderBytes || payloadBytes > this.init.maxPayloadBytes) {
          this.fail(`message of ${headerBytes} + ${payloadBytes} bytes is over the channel's limits`)
          return
        }
        this.header = Buffer.allocUnsafe(headerBytes)
        this.headerFill = 0
        this.payload = this.init.payloadBuffer?.(payloadBytes) ?? new Uint8Array(payloadBytes)
        this.payloadFill = 0
      }
      const header = this.header
      if (this.headerFill < header.byteLength) {
        const take = Math.min(header.byteLength - this.headerFill, chunk.byteLength - pos)
        header.set(chunk.subarray(pos, pos + take), this.headerFill)
        this.headerFill += take
        pos += take
        if (this.headerFill < header.byteLength) return
      }
      const payload = this.payload!
      const take = Math.min(payload.byteLength - this.payloadFill, chunk.byteLength - pos)
      payload.set(chunk.subarray(pos, pos + take), this.payloadFill)
      this.payloadFill += take
      pos += take
      if (this.payloadFill < payload.byteLength) return
      this.header = undefined
      this.payload = undefined
      this.prefixFill = 0
      let parsed: unknown
      try {
        parsed = JSON.parse(header.toString('utf8'))
      } catch {
        this.fail('header is not JSON')
        return
      }
      if (typeof parsed !== 'object' || parsed === null) {
        this.fail('header is not an object')
        return
      }
      this.init.onMessage(parsed as Record<string, unknown>, payload)
    }
  }

  private fail(message: string): void {
    this.failed = true
    this.init.onError(new ChannelError(message))
  }
}
