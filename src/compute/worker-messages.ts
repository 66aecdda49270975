import type { ModelSignature } from './inspect-model.js'
import type { TensorData } from './tensor.js'

/** A tensor with its input or output name, as it crosses between the main thread and a worker. */
export type NamedTensor = TensorData & { name: string }

export interface WorkerInit {
  /** onnxruntime intra-op threads per session. */
  intraOpThreads: number
  /** Bytes of loaded sessions this worker keeps before evicting the least recently used. */
  sessionBudgetBytes: number
}

export type ToWorker =
  | {
      type: 'run'
      id: number
      sha256: string
      path: string
      sizeBytes: number
      inputs: NamedTensor[]
      /** Empty means every output. */
      outputNames: string[]
    }
  | { type: 'inspect'; id: number; path: string }
  /** Release sessions and end the thread once the current job is done. */
  | { type: 'exit' }

export type WorkerFailure = 'INFERENCE_FAILED' | 'INVALID_MODEL'

export type FromWorker =
  | { type: 'ready' }
  | { type: 'done'; id: number; outputs: NamedTensor[]; runMs: number; loadMs: number }
  | { type: 'inspected'; id: number; signature: ModelSignature }
  | { type: 'failed'; id: number; failure: WorkerFailure; message: string }
