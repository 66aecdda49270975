import { open } from 'node:fs/promises'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { MessageStream } from '../net/message-stream.js'
import { runAdmitted } from './admission.js'
import type { ComputeContext } from './compute-context.js'
import { FRAME_OVERHEAD_BYTES, MAX_MODEL_CHUNK_BYTES, MODEL_CHUNK_BYTES } from './constants.js'
import { BusyError, MalformedRequestError, ShuttingDownError, statusFromError } from './errors.js'
import { createComputeStream } from './frames.js'
import { ModelChunk, ModelReply, ModelRequest, Status } from './pb/compute.js'

const log = logger('parkbench:compute')

/** The limits of `/parkbench/model/1.0.0`, resolved from `ComputeInit`. */
export interface ModelTransferLimits {
  requestTimeoutMs: number
  maxConcurrentTransfers: number
  transferTimeoutMs: number
  transferIdleMs: number
}

/**
 * Serves `/parkbench/model/1.0.0`: a peer pushes a model (admitted, size-checked before any byte, hashed as it
 * arrives, loaded before it is stored) or fetches one by hash.
 */
export class ModelTransferHandler {
  private activeTransfers = 0

  constructor(
    private readonly context: ComputeContext,
    private readonly limits: ModelTransferLimits,
  ) {}

  async handle(stream: Stream, connection: Connection): Promise<void> {
    const { limits } = this
    const deadline = AbortSignal.timeout(limits.transferTimeoutMs)
    const messages = createComputeStream(stream, {
      maxDataLength: MAX_MODEL_CHUNK_BYTES + 64,
      maxBufferSize: 2 * MAX_MODEL_CHUNK_BYTES + FRAME_OVERHEAD_BYTES,
    })
    const counted = this.activeTransfers < limits.maxConcurrentTransfers
    if (counted) this.activeTransfers++
    try {
      let request: ModelRequest | undefined
      let reply: ModelReply
      try {
        if (!this.context.running) throw new ShuttingDownError()
        if (!counted) throw new BusyError(`${this.activeTransfers} model transfers in progress`)
        const signal = AbortSignal.any([deadline, AbortSignal.timeout(limits.requestTimeoutMs)])
        request = await messages.read(ModelRequest, { signal, label: 'Model request' })
        if (request.sha256.byteLength !== 32) throw new MalformedRequestError('sha256 must be 32 bytes')
        if (request.kind === ModelRequest.Kind.PUSH) {
          reply = await this.receivePush(messages, request, connection.remotePeer, deadline)
        } else if (request.kind === ModelRequest.Kind.FETCH) {
          const state = { replied: false }
          try {
            await this.serveFetch(messages, request, connection.remotePeer, deadline, state)
          } catch (err) {
            // Past the OK reply the peer expects chunks: a reply frame now would be misread, so reset instead.
            if (state.replied) throw err
            throw err instanceof Error ? new FetchRefusal(err) : err
          }
          await messages.close({ signal: deadline })
          return
        } else {
          throw new MalformedRequestError('Unknown model request kind')
        }
      } catch (caught) {
        const err = caught instanceof FetchRefusal ? caught.cause : caught
        if (!(caught instanceof FetchRefusal) && request?.kind === ModelRequest.Kind.FETCH) {
          throw err
        }
        reply = { status: statusFromError(err), message: (err as Error).message, sizeBytes: 0, alreadyStored: false }
        log('model transfer with %p failed: %s', connection.remotePeer, (err as Error).message)
      }
      await messages.write(reply, ModelReply, { signal: deadline })
      await messages.close({ signal: deadline })
    } catch (err) {
      messages.abort(err as Error)
    } finally {
      if (counted) this.activeTransfers--
    }
  }

  private async receivePush(
    messages: MessageStream,
    request: ModelRequest,
    peer: PeerId,
    deadline: AbortSignal,
  ): Promise<ModelReply> {
    const { store } = this.context
    const sha256 = Buffer.from(request.sha256).toString('hex')
    const admission = { peer, modelSha256: sha256, kind: 'model-push', sizeBytes: request.sizeBytes } as const
    return runAdmitted(this.context.admit, admission, { signal: deadline }, async () => {
      const existing = await store.get(sha256)
      if (existing !== undefined) {
        return { status: Status.OK, message: '', sizeBytes: existing.sizeBytes, alreadyStored: true }
      }
      // Checks the size limit before a single model byte is accepted.
      const writer = await store.createWriter({
        sha256,
        sizeBytes: request.sizeBytes,
        name: request.name.slice(0, 200) || sha256,
      })
      try {
        const ok = { status: Status.OK, message: '', sizeBytes: request.sizeBytes, alreadyStored: false }
        await messages.write(ok, ModelReply, { signal: deadline })
        while (writer.bytesWritten < request.sizeBytes) {
          const signal = AbortSignal.any([deadline, AbortSignal.timeout(this.limits.transferIdleMs)])
          const chunk = await messages.read(ModelChunk, { signal, label: 'Model chunk' })
          if (chunk.data.byteLength === 0) throw new MalformedRequestError('Empty model chunk')
          await writer.write(chunk.data, { signal })
        }
        const record = await writer.commit({ signal: deadline })
        log('stored pushed model %s from %p', sha256, peer)
        return { status: Status.OK, message: '', sizeBytes: record.sizeBytes, alreadyStored: false }
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
    state: { replied: boolean },
  ): Promise<void> {
    const { store } = this.context
    const sha256 = Buffer.from(request.sha256).toString('hex')
    const admission = { peer, modelSha256: sha256, kind: 'model-fetch' } as const
    await runAdmitted(this.context.admit, admission, { signal: deadline }, async () => {
      const record = await store.require(sha256)
      const file = await open(store.modelPath(sha256), 'r')
      try {
        state.replied = true
        const ok = { status: Status.OK, message: '', sizeBytes: record.sizeBytes, alreadyStored: false }
        await messages.write(ok, ModelReply, { signal: deadline })
        const buffer = Buffer.alloc(MODEL_CHUNK_BYTES)
        let sent = 0
        while (sent < record.sizeBytes) {
          const { bytesRead } = await file.read(buffer, 0, Math.min(MODEL_CHUNK_BYTES, record.sizeBytes - sent), sent)
          if (bytesRead === 0) throw new MalformedRequestError('Model file shorter than its record')
          await messages.write({ data: buffer.subarray(0, bytesRead) }, ModelChunk, { signal: deadline })
          sent += bytesRead
        }
      } finally {
        await file.close()
      }
    })
  }
}

/** A fetch that failed before its OK reply: answered with a status like any other refusal. */
class FetchRefusal extends Error {
  override readonly cause: Error
  constructor(cause: Error) {
    super(cause.message)
    this.cause = cause
  }
}
