/**
 * What a provider may store is what it can advertise: every stored model goes into its signed offer, and a client
 * drops an offer past the market's limits (OFFER_LIMITS). So a model is checked against them before it is
 * stored (pushed, fetched or added), and the store holds no more than an offer lists. The daemon and
 * `parkbench model add` give {@link OFFER_CATALOG} to the model store (compute knows no offer).
 */
import { InvalidModelError, TooLargeError } from '../compute/errors.js'
import type { ModelSignature } from '../compute/inspect-model.js'
import type { ModelRecord, TensorSpec } from '../compute/model-record.js'
import type { ModelCatalogPolicy } from '../compute/model-store.js'
import { OFFER_LIMITS } from './offer.js'
import { ModelSpec } from './pb/market.js'

/**
 * Bytes of a signed offer its model list may take: the rest of it (peer id, addresses, chain, prices, region,
 * signature, framing) is a few hundred bytes, and this leaves it 4 KiB.
 */
export const OFFER_MODEL_LIST_BYTES = OFFER_LIMITS.maxBytes - 4096

/** Bytes one model may take in an offer, so that one push cannot fill the list (16 KiB holds 128 long names). */
export const MAX_OFFER_ENTRY_BYTES = 16 * 1024

/** The offer's limits on one model, as compute applies them. */
export const OFFERABLE_LIMITS = {
  maxModels: OFFER_LIMITS.maxModels,
  maxTensorsPerModel: OFFER_LIMITS.maxTensorsPerModel,
  maxDims: OFFER_LIMITS.maxDims,
  maxEntryBytes: MAX_OFFER_ENTRY_BYTES,
  maxListBytes: OFFER_MODEL_LIST_BYTES,
} as const

type Offerable = Pick<ModelRecord, 'sha256' | 'name' | 'sizeBytes'> & ModelSignature

function varintBytes(value: number): number {
  let bytes = 1
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 0x80)) bytes++
  return bytes
}

/** Bytes the model takes in an offer's model list: its ModelSpec as the daemon lists it, with its field framing. */
export function offerEntryBytes(model: Offerable): number {
  // As daemon's toModelSpec: symbolic dims are listed as -1.
  const tensor = (t: TensorSpec): { name: string; dtype: string; dims: bigint[] } => ({
    name: t.name,
    dtype: t.dtype,
    dims: t.dims.map((d) => (typeof d === 'number' ? BigInt(d) : -1n)),
  })
  const spec = ModelSpec.encode({
    sha256: Uint8Array.from(Buffer.from(model.sha256, 'hex')),
    name: model.name,
    inputs: model.inputs.map(tensor),
    outputs: model.outputs.map(tensor),
    sizeBytes: BigInt(model.sizeBytes),
  })
  return 1 + varintBytes(spec.byteLength) + spec.byteLength
}

/**
 * Throws {@link InvalidModelError} when a model cannot be listed in an offer: more than 64 inputs or outputs, a
 * tensor with more than the offer's 32 dims, or an entry over {@link MAX_OFFER_ENTRY_BYTES} (e.g. a 300 KB input name).
 */
export function checkOfferable(model: Offerable): void {
  const { maxTensorsPerModel, maxDims } = OFFER_LIMITS
  for (const [kind, list] of [
    ['inputs', model.inputs],
    ['outputs', model.outputs],
  ] as const) {
    if (list.length > maxTensorsPerModel) {
      throw new InvalidModelError(`The model has ${list.length} ${kind}; an offer lists at most ${maxTensorsPerModel}`)
    }
    for (const t of list) {
      if (t.dims.length > maxDims) {
        throw new InvalidModelError(`A model tensor has ${t.dims.length} dims; an offer lists at most ${maxDims}`)
      }
    }
  }
  const bytes = offerEntryBytes(model)
  if (bytes > MAX_OFFER_ENTRY_BYTES) {
    throw new InvalidModelError(
      `The model takes ${bytes} bytes in an offer (its names); the limit is ${MAX_OFFER_ENTRY_BYTES}`,
    )
  }
}

/** Throws {@link TooLargeError} when the store cannot take one more model of `entryBytes` and stay offerable. */
export function checkRoom(stored: readonly Offerable[], entryBytes = 0): void {
  if (stored.length >= OFFER_LIMITS.maxModels) {
    throw new TooLargeError(`The provider holds ${stored.length} models, as many as an offer lists`)
  }
  const used = stored.reduce((sum, m) => sum + offerEntryBytes(m), 0)
  if (used + entryBytes > OFFER_MODEL_LIST_BYTES) {
    throw new TooLargeError(
      `The provider's offer has ${OFFER_MODEL_LIST_BYTES - used} bytes left for models; this one takes ${entryBytes}`,
    )
  }
}

/** The offer's limits as the model store's catalog policy. */
export const OFFER_CATALOG: ModelCatalogPolicy = {
  checkModel: checkOfferable,
  checkRoom: (stored, model) => checkRoom(stored, model == null ? 0 : offerEntryBytes(model)),
}
