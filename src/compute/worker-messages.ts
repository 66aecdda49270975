import type { ModelSignature } from './inspect-model.js'
import type { TensorData } from './tensor.js'

/** A tensor with its input or output name, as it crosses between the provider and a worker process. */
export type NamedTensor = TensorData & { name: string }

export interface WorkerInit {
  /** onnxruntime intra-op threads per session. */
  intraOpThreads: number
  /** Bytes of loaded sessions this worker keeps before evicting the least recently used. */
  sessionBudgetBytes: number
}

/** A job to run: sent on the data channel (worker-channel.ts), its input tensors as the payload. */
export interface RunJob {
  type: 'run'
  id: number
  sha256: string
  path: string
  sizeBytes: number
  inputs: NamedTensor[]
  /** Empty means every output. */
  outputNames: string[]
  /** Outputs larger than this in all are refused in the worker, before they are copied out. */
  maxOutputBytes: number
}

/** What the provider sends on the IPC channel. */
export type ToWorker =
  | { type: 'inspect'; id: number; path: string }
  /** Release sessions and end the process once the current job is done. */
  | { type: 'exit' }

/** OUT_OF_MEMORY: an allocation failed against the worker's memory limit. */
export type WorkerFailure = 'INFERENCE_FAILED' | 'INVALID_MODEL' | 'OUT_OF_MEMORY' | 'TOO_LARGE'

/** A job's outputs: sent on the data channel, the numeric tensors' bytes as the payload. */
export interface JobDone {
  type: 'done'
  id: number
  outputs: NamedTensor[]
  runMs: number
  loadMs: number
}

/** What the worker sends on the IPC channel (`done` comes on the data channel). */
export type FromWorker =
  | { type: 'ready' }
  /** The session is loaded and `session.run()` starts now; `rssBytes` is the worker's memory just before. */
  | { type: 'running'; id: number; rssBytes: number }
  | { type: 'inspected'; id: number; signature: ModelSignature }
  | { type: 'failed'; id: number; failure: WorkerFailure; message: string }
