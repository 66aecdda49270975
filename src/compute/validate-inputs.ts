import { InvalidInferenceInputError } from './errors.js'
import type { ModelRecord, TensorSpec } from './model-record.js'
import { quoted } from './text.js'
import type { NamedTensor } from './worker-messages.js'

function checkShape(spec: TensorSpec, tensor: NamedTensor): void {
  // An empty spec shape means the model leaves it open (onnxruntime reports unknown shapes that way).
  if (spec.dims.length === 0) return
  if (spec.dims.length !== tensor.dims.length) {
    throw new InvalidInferenceInputError(
      `Input ${quoted(spec.name)} has rank ${tensor.dims.length}; the model wants [${spec.dims.join(',')}]`,
    )
  }
  spec.dims.forEach((want, i) => {
    if (typeof want === 'number' && want >= 0 && tensor.dims[i] !== want) {
      throw new InvalidInferenceInputError(
        `Input ${quoted(spec.name)} has shape [${tensor.dims.join(',')}]; the model wants [${spec.dims.join(',')}]`,
      )
    }
  })
}

/**
 * Check a job against the model's signature before it takes a worker: every input the model declares is present
 * once with its dtype and a compatible shape, no unknown inputs, and only outputs the model has.
 */
export function validateInferInputs(record: ModelRecord, inputs: NamedTensor[], outputNames: string[]): void {
  const specs = new Map(record.inputs.map((s) => [s.name, s]))
  const seen = new Set<string>()
  for (const tensor of inputs) {
    const spec = specs.get(tensor.name)
    if (spec === undefined) throw new InvalidInferenceInputError(`The model has no input ${quoted(tensor.name)}`)
    if (seen.has(tensor.name)) throw new InvalidInferenceInputError(`Input ${quoted(tensor.name)} given twice`)
    seen.add(tensor.name)
    if (spec.dtype === 'non-tensor') {
      throw new InvalidInferenceInputError(`Input ${quoted(spec.name)} is a sequence or map, which cannot be sent`)
    }
    if (spec.dtype !== tensor.dtype) {
      throw new InvalidInferenceInputError(
        `Input ${quoted(spec.name)} is ${tensor.dtype}; the model wants ${spec.dtype}`,
      )
    }
    checkShape(spec, tensor)
  }
  for (const spec of record.inputs) {
    if (!seen.has(spec.name)) throw new InvalidInferenceInputError(`Missing input ${quoted(spec.name)}`)
  }
  const outputs = new Set(record.outputs.map((s) => s.name))
  const wanted = new Set<string>()
  for (const name of outputNames) {
    if (!outputs.has(name)) throw new InvalidInferenceInputError(`The model has no output ${quoted(name)}`)
    if (wanted.has(name)) throw new InvalidInferenceInputError(`Output ${quoted(name)} asked twice`)
    wanted.add(name)
  }
}
