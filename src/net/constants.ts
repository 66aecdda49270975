/** Every parkbench protocol id is `/${PROTOCOL_PREFIX}/<name>/<semver>`. */
export const PROTOCOL_PREFIX = 'parkbench'

/** A private Kademlia protocol id keeps parkbench's DHT apart from the public IPFS one. */
export const KAD_PROTOCOL = `/${PROTOCOL_PREFIX}/kad/1.0.0`

/** Build a protocol id from its name and version, e.g. `protocolId('offer', '1.0.0')`. */
export function protocolId(name: string, version: string): string {
  return `/${PROTOCOL_PREFIX}/${name}/${version}`
}
