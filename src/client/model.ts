import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { isSha256Hex } from '../compute/model-store.js'
import { InvalidInputError } from '../errors.js'

/** A model as the client holds it: its hash, and its bytes when it can push them to a provider that lacks it. */
export interface ResolvedModel {
  sha256: string
  bytes?: Uint8Array
  name: string
}

const HASHED = new WeakMap<Uint8Array, ResolvedModel>()

/**
 * A model given as a path to an .onnx file, its bytes, or its sha256 (hex) when providers already hold it.
 * Throws {@link InvalidInputError} for a file that cannot be read.
 */
export async function resolveModel(model: string | Uint8Array): Promise<ResolvedModel> {
  if (typeof model !== 'string') {
    // Hashed once per bytes object: a caller passing the same model on every request (the gateway does) must not
    // pay a sha256 of the whole model each time. The bytes are the caller's and must not change once passed.
    let resolved = HASHED.get(model)
    if (resolved == null) {
      resolved = { sha256: createHash('sha256').update(model).digest('hex'), bytes: model, name: 'model.onnx' }
      HASHED.set(model, resolved)
    }
    return resolved
  }
  if (isSha256Hex(model.toLowerCase())) return { sha256: model.toLowerCase(), name: model.toLowerCase() }
  let bytes: Uint8Array
  try {
    bytes = await readFile(model)
  } catch (err) {
    throw new InvalidInputError(`Cannot read model ${model}: ${(err as Error).message}`, { cause: err })
  }
  return { sha256: createHash('sha256').update(bytes).digest('hex'), bytes, name: basename(model) }
}
