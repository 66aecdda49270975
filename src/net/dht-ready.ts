import type { AbortOptions } from '@libp2p/interface'
import { AbortedError } from '../errors.js'
import type { ParkbenchNode } from './create-node.js'

/**
 * The number of peers in the node's DHT routing table. kad-dht does not type its routing table as public API, so
 * this reads it through a narrow view; it is the only number that says whether a provide or a lookup has anyone
 * to ask.
 */
export function dhtRoutingTableSize(node: ParkbenchNode): number {
  const table = (node.services.dht as unknown as { routingTable?: { size?: number } }).routingTable
  return table?.size ?? 0
}

/** Resolve once the routing table holds at least `minPeers` peers; reject with {@link AbortedError} on abort. */
export async function waitForDhtPeers(
  node: ParkbenchNode,
  minPeers: number,
  options: AbortOptions = {},
): Promise<void> {
  const signal = options.signal ?? AbortSignal.timeout(30_000)
  while (dhtRoutingTableSize(node) < minPeers) {
    if (signal.aborted) {
      throw new AbortedError(`DHT routing table has ${dhtRoutingTableSize(node)} of ${minPeers} peers`, {
        cause: signal.reason,
      })
    }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
