import { inspectModel } from '../compute/inspect-model.js'
import type { ModelRecord, TensorSpec } from '../compute/model-record.js'
import { type TensorData, type TensorLike, toTensorData } from '../compute/tensor.js'
import { validateInferInputs } from '../compute/validate-inputs.js'
import type { ModelSpec } from '../market/pb/market.js'

/** A model's signature: what its inputs and outputs are. */
export type Signature = Pick<ModelRecord, 'inputs' | 'outputs'>

/** The signature a provider's offer lists for a model (symbolic dims are -1 on the wire). */
export function signatureOfSpec(spec: ModelSpec): Signature {
  const tensor = (t: ModelSpec['inputs'][number]): TensorSpec => ({
    name: t.name,
    dtype: t.dtype,
    dims: t.dims.map((d) => (d < 0n ? -1 : Number(d))),
  })
  return { inputs: spec.inputs.map(tensor), outputs: spec.outputs.map(tensor) }
}

/**
 * The signature of a model the renter holds (to push), read with onnxruntime in this thread (50-260 ms; done
 * once per model). Throws InvalidModelError when onnxruntime cannot load it.
 */
export function signatureOfBytes(bytes: Uint8Array): Promise<Signature> {
  return inspectModel(bytes)
}

/**
 * Check a job's inputs and outputs against the model's signature before anything is paid: a wrong input name,
 * dtype or shape is the renter's own mistake and fails at once with InvalidInferenceInputError (no lease, no tick,
 * no failover).
 */
export function checkInputs(
  signature: Signature,
  inputs: Record<string, TensorLike | TensorData>,
  outputNames: string[] = [],
): void {
  const named = Object.entries(inputs).map(([name, tensor]) => ({
    name,
    ...('dtype' in tensor ? tensor : toTensorData(tensor, `Input "${name}"`)),
  }))
  validateInferInputs({ inputs: signature.inputs, outputs: signature.outputs } as ModelRecord, named, outputNames)
}
