import type { ModelRecord } from '../compute/model-record.js'
import type { ModelSpec } from '../market/pb/market.js'

/** A stored model as the market lists it: symbolic dims (`batch`) become -1. */
export function toModelSpec(record: ModelRecord): ModelSpec {
  const tensor = (t: ModelRecord['inputs'][number]): ModelSpec['inputs'][number] => ({
    name: t.name,
    dtype: t.dtype,
    dims: t.dims.map((d) => (typeof d === 'number' ? BigInt(d) : -1n)),
  })
  return {
    sha256: Uint8Array.from(Buffer.from(record.sha256, 'hex')),
    name: record.name,
    inputs: record.inputs.map(tensor),
    outputs: record.outputs.map(tensor),
    sizeBytes: BigInt(record.sizeBytes),
  }
}
