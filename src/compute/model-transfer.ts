import { createHash } from 'node:crypto'
import { open, stat } from 'node:fs/promises'
import type { AbortOptions, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { PeerUnreachableError } from '../net/errors.js'
import { openProtocolStream, type RpcNode } from '../net/rpc.js'
import {
  DEFAULT_TRANSFER_IDLE_MS,
  DEFAULT_TRANSFER_TIMEOUT_MS,
  FRAME_OVERHEAD_BYTES,
  MAX_MODEL_CHUNK_BYTES,
  MAX_MODEL_CONTROL_BYTES,
  MODEL_CHUNK_BYTES,
  MODEL_PROTOCOL,
} from './constants.js'
import { errorFromStatus, MalformedRequestError, TooLargeError } from './errors.js'
import { createComputeStream } from './frames.js'
import type { ModelRecord } from './model-record.js'
import { isSha256Hex, type ModelStore } from './model-store.js'
import { ModelChunk, ModelReply, ModelRequest, Status } from './pb/compute.js'
import { sha256OfFile } from './sha256-file.js'

/** Progress of a model push or fetch. */
export interface TransferProgress {
  /** As every parkbench progress event: `<area>:<what>`. */
  type: 'model:hashing' | 'model:sending' | 'model:receiving' | 'model:verifying' | 'model:done'
  sha256: string
  bytes: number
  totalBytes: number
}

export interface TransferOptions extends AbortOptions {
  onProgress?(event: TransferProgress): void
  /** Longest wait for the next frame, in ms. Default 30 s. */
  idleTimeoutMs?: number
}

export interface PushResult {
  sha256: string
  sizeBytes: number
  /** The provider already had the model; nothing was sent. */
  alreadyStored: boolean
}

type Peer = PeerId | Multiaddr | Multiaddr[]

async function openModelStream(node: Pick<RpcNode, 'dialProtocol'>, peer: Peer, signal: AbortSignal): Promise<Stream> {
  try {
    return await openProtocolStream(node, peer, MODEL_PROTOCOL, { signal })
  } catch (err) {
    throw new PeerUnreachableError(`Could not open ${MODEL_PROTOCOL}: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * Push a model (bytes or a file path) to a provider over `/parkbench/model/1.0.0`. The provider admits the push,
 * checks the announced size against its limit before any byte is sent, then checks the hash and that onnxruntime
 * loads the model before storing it. Throws the typed error of the provider's status (TooLargeError,
 * NotAuthorizedError, HashMismatchError, InvalidModelError, BusyError...).
 */
export async function pushModel(
  node: Pick<RpcNode, 'dialProtocol'>,
  peer: Peer,
  source: Uint8Array | string,
  options: TransferOptions & { name?: string } = {},
): Promise<PushResult> {
  const signal = options.signal ?? AbortSignal.timeout(DEFAULT_TRANSFER_TIMEOUT_MS)
  const idleMs = options.idleTimeoutMs ?? DEFAULT_TRANSFER_IDLE_MS
  const sizeBytes = typeof source === 'string' ? (await stat(source)).size : source.byteLength
  options.onProgress?.({ type: 'model:hashing', sha256: '', bytes: 0, totalBytes: sizeBytes })
  const sha256 =
    typeof source === 'string'
      ? await sha256OfFile(source, { signal })
      : createHash('sha256').update(source).digest('hex')
  const name = options.name ?? (typeof source === 'string' ? (source.split(/[\\/]/).pop() ?? sha256) : sha256)
  const messages = createComputeStream(await openModelStream(node, peer, signal), {
    maxDataLength: MAX_MODEL_CONTROL_BYTES,
    maxBufferSize: MAX_MODEL_CONTROL_BYTES * 4,
  })
  try {
    const request = {
      kind: ModelRequest.Kind.PUSH,
      sha256: Buffer.from(sha256, 'hex'),
      sizeBytes: BigInt(sizeBytes),
      name,
    }
    await messages.write(request, ModelRequest, { signal })
    const replySignal = (): AbortSignal => AbortSignal.any([signal, AbortSignal.timeout(idleMs)])
    const first = await messages.read(ModelReply, { signal: replySignal(), label: 'Model reply' })
    if (first.status !== Status.OK) throw errorFromStatus(first.status, first.message)
    if (first.alreadyStored) {
      await messages.close({ signal })
      options.onProgress?.({ type: 'model:done', sha256, bytes: sizeBytes, totalBytes: sizeBytes })
      return { sha256, sizeBytes, alreadyStored: true }
    }
    // Read the final reply while sending, so a provider that gives up early (limit, deadline) is heard at once.
    const final = messages.read(ModelReply, { signal, label: 'Model reply' })
    final.catch(() => {})
    let sent = 0
    const send = async (chunk: Uint8Array<ArrayBuffer>): Promise<void> => {
      await messages.write({ data: chunk }, ModelChunk, { signal })
      sent += chunk.byteLength
      options.onProgress?.({ type: 'model:sending', sha256, bytes: sent, totalBytes: sizeBytes })
    }
    const sending = (async () => {
      if (typeof source !== 'string') {
        for (let offset = 0; offset < source.byteLength; offset += MODEL_CHUNK_BYTES) {
          await send(source.subarray(offset, offset + MODEL_CHUNK_BYTES) as Uint8Array<ArrayBuffer>)
        }
        return
      }
      const file = await open(source, 'r')
      try {
        const buffer = Buffer.alloc(MODEL_CHUNK_BYTES)
        while (sent < sizeBytes) {
          const { bytesRead } = await file.read(buffer, 0, Math.min(MODEL_CHUNK_BYTES, sizeBytes - sent), sent)
          if (bytesRead === 0) throw new MalformedRequestError('The model file shrank while being sent')
          await send(buffer.subarray(0, bytesRead))
        }
      } finally {
        await file.close()
      }
    })()
    const early = await Promise.race([final.then((reply) => ({ reply })), sending.then(() => undefined)])
    if (early === undefined)
      options.onProgress?.({ type: 'model:verifying', sha256, bytes: sent, totalBytes: sizeBytes })
    const reply = early?.reply ?? (await final)
    sending.catch(() => {})
    if (reply.status !== Status.OK) throw errorFromStatus(reply.status, reply.message)
    await messages.close({ signal })
    options.onProgress?.({ type: 'model:done', sha256, bytes: sizeBytes, totalBytes: sizeBytes })
    return { sha256, sizeBytes, alreadyStored: false }
  } catch (err) {
    messages.abort(err as Error)
    throw err
  }
}

/**
 * Fetch a model by hash from a peer that holds it and store it in `store`. The announced size is checked against
 * the store's limit before any byte is read; the bytes are hashed as they arrive and onnxruntime must load the
 * model before it is stored. A provider normally calls `ComputeService.fetchModel`, which checks models in its
 * worker pool.
 */
export async function fetchModelInto(
  node: Pick<RpcNode, 'dialProtocol'>,
  peer: Peer,
  sha256: string,
  store: ModelStore,
  options: TransferOptions = {},
): Promise<ModelRecord> {
  if (!isSha256Hex(sha256)) throw new MalformedRequestError(`Not a sha256: ${sha256}`)
  const existing = await store.get(sha256)
  if (existing !== undefined) return existing
  const signal = options.signal ?? AbortSignal.timeout(DEFAULT_TRANSFER_TIMEOUT_MS)
  const idleMs = options.idleTimeoutMs ?? DEFAULT_TRANSFER_IDLE_MS
  const messages = createComputeStream(await openModelStream(node, peer, signal), {
    maxDataLength: MAX_MODEL_CHUNK_BYTES + 64,
    maxBufferSize: 2 * MAX_MODEL_CHUNK_BYTES + FRAME_OVERHEAD_BYTES,
  })
  try {
    const request = { kind: ModelRequest.Kind.FETCH, sha256: Buffer.from(sha256, 'hex'), sizeBytes: 0n, name: '' }
    await messages.write(request, ModelRequest, { signal })
    const frameSignal = (): AbortSignal => AbortSignal.any([signal, AbortSignal.timeout(idleMs)])
    const reply = await messages.read(ModelReply, { signal: frameSignal(), label: 'Model reply' })
    if (reply.status !== Status.OK) throw errorFromStatus(reply.status, reply.message)
    if (reply.sizeBytes > BigInt(store.maxModelBytes)) {
      throw new TooLargeError(`Model is ${reply.sizeBytes} bytes; the limit is ${store.maxModelBytes}`)
    }
    const sizeBytes = Number(reply.sizeBytes)
    const writer = await store.createWriter({ sha256, sizeBytes, name: sha256 }, { signal })
    try {
      while (writer.bytesWritten < sizeBytes) {
        const chunk = await messages.read(ModelChunk, { signal: frameSignal(), label: 'Model chunk' })
        if (chunk.data.byteLength === 0) throw new MalformedRequestError('Empty model chunk')
        await writer.write(chunk.data, { signal })
        options.onProgress?.({ type: 'model:receiving', sha256, bytes: writer.bytesWritten, totalBytes: sizeBytes })
      }
      options.onProgress?.({ type: 'model:verifying', sha256, bytes: writer.bytesWritten, totalBytes: sizeBytes })
      // Every byte is here: close before the (slow) check, so the serving peer is done with its stream.
      await messages.close({ signal })
      const record = await writer.commit({ signal })
      options.onProgress?.({ type: 'model:done', sha256, bytes: record.sizeBytes, totalBytes: record.sizeBytes })
      return record
    } finally {
      await writer.discard()
    }
  } catch (err) {
    messages.abort(err as Error)
    throw err
  }
}
