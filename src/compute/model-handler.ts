import { open } from 'node:fs/promises'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { UnexpectedEndError } from '../net/errors.js'
import type { MessageStream } from '../net/message-stream.js'
import { runAdmitted } from './admission.js'
import type { ComputeContext } from './compute-context.js'
import {
  FRAME_OVERHEAD_BYTES,
  MAX_MODEL_CHUNK_BYTES,
  MAX_MODEL_CONTROL_BYTES,
  MODEL_CHUNK_BYTES,
  MODEL_CLOSE_LINGER_MS,
} from './constants.js'
import { BusyError, MalformedRequestError, ShuttingDownError, statusFromError, TooLargeError } from './errors.js'
import { createComputeStream } from './frames.js'
import { ModelChunk, ModelReply, ModelRequest, Status } from './pb/compute.js'
import { linkSignals } from './signals.js'
import { peerText } from './text.js'

const log = logger('parkbench:compute')

/** The limits of `/parkbench/model/1.0.0`, resolved from `ComputeInit`. */
export interface ModelTransferLimits {
  /** Time a peer has to deliver its ModelRequest, in ms. */
  requestTimeoutMs: number
  /** Transfers (pushes and fetches served) at once, all peers. */
  maxConcurrentTransfers: number
  /** Transfers at once from one peer. */
  maxTransfersPerPeer: number
  transferTimeoutMs: number
  transferIdleMs: number
}

/** What a transfer holds while it runs. */
interface TransferState {
  /** A fetch's OK reply went out: the peer now expects chunks, so a failure resets the stream. */
  streaming: boolean
  /** Frees the transfer slot, once taken. */
  release?: () => void
}

/**
 * Serves `/parkbench/model/1.0.0`: a peer pushes a model (admitted, size-checked before any byte, hashed as it
 * arrives, loaded before it is stored) or fetches one by hash. A transfer slot is taken only once the request has
 * been read (bounded in size and time) and admitted, so streams that stall, or come from peers without a lease,
 * hold none; each peer gets `maxTransfersPerPeer` of the `maxConcurrentTransfers`. Every refusal is answered with
 * its status and the stream closed at once.
 */
export class ModelTransferHandler {
  private activeTransfers = 0
  private readonly transfersByPeer = new Map<string, number>()

  constructor(
    private readonly context: ComputeContext,
    private readonly limits: ModelTransferLimits,
  ) {}

  /** Transfers in progress (slots taken), all peers. */
  get active(): number {
    return this.activeTransfers
  }

  async handle(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer
    const deadline = AbortSignal.timeout(this.limits.transferTimeoutMs)
    const messages = createComputeStream(stream, {
      maxDataLength: MAX_MODEL_CHUNK_BYTES + 64,
      // Flow control: past this much unread, the peer is held back (not reset) until the disk catches up.
      maxBufferSize: 2 * MAX_MODEL_CHUNK_BYTES + FRAME_OVERHEAD_BYTES,
      discardAfterInvalidFrame: true,
    })
    const state: TransferState = { streaming: false }
    try {
      let reply: ModelReply | undefined
      try {
        reply = await this.serve(messages, peer, deadline, state)
      } catch (err) {
        // Past a fetch's OK reply the peer reads chunks: a reply frame now would be misread, so reset instead.
        if (state.streaming) throw err
        reply = {
          status: statusFromError(err),
          message: peerText((err as Error).message),
          sizeBytes: 0n,
          alreadyStored: false,
        }
        log('model transfer with %p refused: %s', peer, (err as Error).message)
      }
      if (reply !== undefined) await messages.write(reply, ModelReply, { signal: deadline })
      await this.finish(messages, deadline)
    } catch (err) {
      messages.abort(err as Error)
    } finally {
      state.release?.()
    }
  }

  /** Read, check and serve one request. Resolves with the reply to send (none after a fetch's chunks). */
  private async serve(
    messages: MessageStream,
    peer: PeerId,
    deadline: AbortSignal,
    state: TransferState,
  ): Promise<ModelReply | undefined> {
    if (!this.context.running) throw new ShuttingDownError()
    const request = await this.readRequest(messages, deadline)
    if (request.sha256.byteLength !== 32) throw new MalformedRequestError('sha256 must be 32 bytes')
    if (request.kind === ModelRequest.Kind.PUSH) return this.receivePush(messages, request, peer, deadline, state)
    if (request.kind === ModelRequest.Kind.FETCH) {
      await this.serveFetch(messages, request, peer, deadline, state)
      return undefined
    }
    throw new MalformedRequestError('Unknown model request kind')
  }

  /** The request frame: at most MAX_MODEL_CONTROL_BYTES, within `requestTimeoutMs`; a cut-short one is malformed. */
  private async readRequest(messages: MessageStream, deadline: AbortSignal): Promise<ModelRequest> {
    const timeout = linkSignals([deadline], this.limits.requestTimeoutMs)
    try {
      return await messages.read(ModelRequest, {
        signal: timeout.signal,
        label: 'Model request',
        maxDataLength: MAX_MODEL_CONTROL_BYTES,
      })
    } catch (err) {
      // The peer closed its side mid-frame: it can still read why.
      if (err instanceof UnexpectedEndError) throw new MalformedRequestError('The model request was cut short')
      throw err
    } finally {
      timeout.clear()
    }
  }

  /** Take a transfer slot for `peer`, or throw BusyError; the returned function gives it back (once). */
  private takeSlot(peer: PeerId): () => void {
    const key = peer.toString()
    const mine = this.transfersByPeer.get(key) ?? 0
    if (mine >= this.limits.maxTransfersPerPeer) {
      throw new BusyError(`This peer already has ${mine} model transfer(s) in progress`)
    }
    if (this.activeTransfers >= this.limits.maxConcurrentTransfers) {
      throw new BusyError(`${this.activeTransfers} model transfers in progress`)
    }
    this.activeTransfers++
    this.transfersByPeer.set(key, mine + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      this.activeTransfers--
      const left = (this.transfersByPeer.get(key) ?? 1) - 1
      if (left > 0) this.transfersByPeer.set(key, left)
      else this.transfersByPeer.delete(key)
    }
  }

  private async receivePush(
    messages: MessageStream,
    request: ModelRequest,
    peer: PeerId,
    deadline: AbortSignal,
    state: TransferState,
  ): Promise<ModelReply> {
    const { store } = this.context
    const sha256 = Buffer.from(request.sha256).toString('hex')
    // Any uint64 decodes (as bigint); one past the limit is refused before it becomes a number.
    if (request.sizeBytes > BigInt(store.maxModelBytes)) {
      throw new TooLargeError(`Model is ${request.sizeBytes} bytes; the limit is ${store.maxModelBytes}`)
    }
    const sizeBytes = Number(request.sizeBytes)
    const admission = { peer, modelSha256: sha256, kind: 'model-push', sizeBytes } as const
    return runAdmitted(this.context.admit, admission, { signal: deadline }, async () => {
      state.release = this.takeSlot(peer)
      const existing = await store.get(sha256)
      if (existing !== undefined) {
        return { status: Status.OK, message: '', sizeBytes: BigInt(existing.sizeBytes), alreadyStored: true }
      }
      // Checks the size limit and the store's room before a single model byte is accepted.
      const writer = await store.createWriter({ sha256, sizeBytes, name: request.name || sha256 })
      try {
        const ok = { status: Status.OK, message: '', sizeBytes: BigInt(sizeBytes), alreadyStored: false }
        await messages.write(ok, ModelReply, { signal: deadline })
        while (writer.bytesWritten < sizeBytes) {
          const idle = linkSignals([deadline], this.limits.transferIdleMs)
          let chunk: ModelChunk
          try {
            chunk = await messages.read(ModelChunk, { signal: idle.signal, label: 'Model chunk' })
          } catch (err) {
            if (err instanceof UnexpectedEndError) {
              throw new MalformedRequestError(`The push ended after ${writer.bytesWritten} of ${sizeBytes} bytes`)
            }
            throw err
          } finally {
            idle.clear()
          }
          if (chunk.data.byteLength === 0) throw new MalformedRequestError('Empty model chunk')
          await writer.write(chunk.data, { signal: deadline })
        }
        const record = await writer.commit({ signal: deadline })
        log('stored pushed model %s from %p', sha256, peer)
        return { status: Status.OK, message: '', sizeBytes: BigInt(record.sizeBytes), alreadyStored: false }
      } finally {
        await writer.discard()
      }
    })
  }

  private async serveFetch(
    messages: MessageStream,
    request: ModelRequest,
    peer: PeerId,
    deadline: AbortSignal,
    state: TransferState,
  ): Promise<void> {
    const { store } = this.context
    const sha256 = Buffer.from(request.sha256).toString('hex')
    const admission = { peer, modelSha256: sha256, kind: 'model-fetch' } as const
    await runAdmitted(this.context.admit, admission, { signal: deadline }, async () => {
      state.release = this.takeSlot(peer)
      const record = await store.require(sha256)
      const file = await open(store.modelPath(sha256), 'r')
      try {
        const ok = { status: Status.OK, message: '', sizeBytes: BigInt(record.sizeBytes), alreadyStored: false }
        state.streaming = true
        await messages.write(ok, ModelReply, { signal: deadline })
        const buffer = Buffer.alloc(MODEL_CHUNK_BYTES)
        let sent = 0
        while (sent < record.sizeBytes) {
          const { bytesRead } = await file.read(buffer, 0, Math.min(MODEL_CHUNK_BYTES, record.sizeBytes - sent), sent)
          if (bytesRead === 0) throw new MalformedRequestError('Model file shorter than its record')
          // Encoding copies the bytes, so the buffer can be reused for the next chunk.
          await messages.write({ data: buffer.subarray(0, bytesRead) }, ModelChunk, { signal: deadline })
          sent += bytesRead
        }
      } finally {
        await file.close()
      }
    })
  }

  /**
   * The exchange is over (answered, or served): drop whatever else the peer sends, close our side once the answer
   * is out, and reset the stream if the peer has not closed its side within {@link MODEL_CLOSE_LINGER_MS}, so that
   * no peer keeps a stream of ours open.
   */
  private async finish(messages: MessageStream, deadline: AbortSignal): Promise<void> {
    messages.discardReads()
    await messages.close({ signal: deadline })
    const { stream } = messages
    if (stream.status === 'closed' || stream.status === 'aborted' || stream.status === 'reset') return
    const timer = setTimeout(() => stream.abort(new Error('The peer kept the stream open')), MODEL_CLOSE_LINGER_MS)
    timer.unref()
    stream.addEventListener('close', () => clearTimeout(timer), { once: true })
  }
}
