import { InferenceSession } from 'onnxruntime-node'
import { InvalidModelError } from './errors.js'
import type { TensorSpec } from './model-record.js'

export interface ModelSignature {
  inputs: TensorSpec[]
  outputs: TensorSpec[]
}

function toSpec(meta: InferenceSession.ValueMetadata): TensorSpec {
  if (!meta.isTensor) return { name: meta.name, dtype: 'non-tensor', dims: [] }
  return { name: meta.name, dtype: meta.type, dims: meta.shape.map((d) => (typeof d === 'number' && d < 0 ? -1 : d)) }
}

/** Read a session's input and output signature. */
export function sessionSignature(session: InferenceSession): ModelSignature {
  return { inputs: session.inputMetadata.map(toSpec), outputs: session.outputMetadata.map(toSpec) }
}

/**
 * Load a model (a path or its bytes) with onnxruntime in the calling thread, read its signature, release it. Throws
 * {@link InvalidModelError} when onnxruntime cannot load it. Session creation blocks the thread for 50-260 ms, so
 * a serving process calls this through the worker pool instead.
 */
export async function inspectModel(model: string | Uint8Array): Promise<ModelSignature> {
  let session: InferenceSession
  try {
    const options = {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      logSeverityLevel: 4,
      // What loading allocates (constant folding can build large tensors) goes back to the system afterwards.
      enableCpuMemArena: false,
    } as const
    session =
      typeof model === 'string'
        ? await InferenceSession.create(model, options)
        : await InferenceSession.create(model, options)
  } catch (err) {
    throw new InvalidModelError(`onnxruntime cannot load the model: ${(err as Error).message}`, { cause: err })
  }
  try {
    return sessionSignature(session)
  } finally {
    await session.release()
  }
}
