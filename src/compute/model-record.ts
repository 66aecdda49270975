import type { TensorDtype } from './tensor.js'

/** One input or output of a model, as onnxruntime reports it. */
export interface TensorSpec {
  name: string
  /**
   * The element type as onnxruntime names it (a {@link TensorDtype}, or e.g. `int4`, which onnxruntime-node cannot
   * feed), or `non-tensor` for sequence and map values.
   */
  dtype: TensorDtype | 'non-tensor' | (string & {})
  /** Each dim a size, -1 when unknown, or a symbolic name (`batch`). Empty when the model leaves the shape open. */
  dims: Array<number | string>
}

/** What the store keeps next to each model, and what a market offer lists. */
export interface ModelRecord {
  /** sha256 of the .onnx bytes, lowercase hex: the model's address. */
  sha256: string
  /** A display name (the imported file's name). Not unique, not trusted. */
  name: string
  sizeBytes: number
  /** ISO time the model was stored. */
  addedAt: string
  inputs: TensorSpec[]
  outputs: TensorSpec[]
}
