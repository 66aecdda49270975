import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'

/** The only runtime today: onnxruntime on CPU. */
export const ONNX_CPU_RUNTIME = 'onnx/cpu'

/**
 * The DHT key string a provider advertises for a runtime, e.g. `/parkbench/runtime/onnx/cpu/v1`.
 * Documented in protocols/README.md so any libp2p node can look providers up.
 */
export function runtimeKey(runtime: string): string {
  return `/parkbench/runtime/${runtime}/v1`
}

/** The DHT key string for a model, from the lowercase hex sha256 of its .onnx bytes. */
export function modelKey(sha256Hex: string): string {
  return `/parkbench/model/sha256/${sha256Hex.toLowerCase()}/v1`
}

/**
 * Map a key string to the CID that is provided on the DHT: CIDv1, codec raw (0x55), multihash sha2-256 of the key's
 * UTF-8 bytes. A stock kad-dht `findProviders(cid)` on `/parkbench/kad/1.0.0` finds parkbench providers.
 */
export async function keyToCid(key: string): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(key)))
}

const SHA256_HEX = /^[0-9a-f]{64}$/

/** True for a lowercase 64-digit hex sha256. */
export function isSha256Hex(value: string): boolean {
  return SHA256_HEX.test(value)
}
