/** Every parkbench protocol id is `/${PROTOCOL_PREFIX}/<name>/<semver>`. */
export const PROTOCOL_PREFIX = 'parkbench'

/** A private Kademlia protocol id keeps parkbench's DHT apart from the public IPFS one. */
export const KAD_PROTOCOL = `/${PROTOCOL_PREFIX}/kad/1.0.0`

/** Build a protocol id from its name and version, e.g. `protocolId('offer', '1.0.0')`. */
export function protocolId(name: string, version: string): string {
  return `/${PROTOCOL_PREFIX}/${name}/${version}`
}

/**
 * Every parkbench protocol runs on relayed (limited) connections too: a provider behind a NAT that defeats hole
 * punching sells over a circuit relay, within the relay's limits (src/net/relay.ts). libp2p refuses streams on a
 * limited connection unless both the handler and the dial say so.
 */
export const RUN_ON_RELAYED_CONNECTIONS = { runOnLimitedConnection: true } as const
