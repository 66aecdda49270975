import type { AbortOptions } from '@libp2p/interface'
import { AbortedError } from '../errors.js'
import type { ParkbenchNode } from './create-node.js'

/** Which of a node's DHTs to count: parkbench's own, the Amino one (when the node runs it), or either. */
export type DhtChoice = 'parkbench' | 'amino' | 'any'

function tableSize(dht: unknown): number {
  return (dht as { routingTable?: { size?: number } } | undefined)?.routingTable?.size ?? 0
}

/**
 * The number of peers in the node's DHT routing table (`dht`: parkbench's own by default; `any` is the larger of the
 * two when the node also runs Amino). kad-dht does not type its routing table as public API, so this reads it
 * through a narrow view; it is the only number that says whether a provide or a lookup has anyone to ask.
 */
export function dhtRoutingTableSize(node: ParkbenchNode, dht: DhtChoice = 'parkbench'): number {
  const own = tableSize(node.services.dht)
  const amino = tableSize(node.services.aminoDht)
  return dht === 'parkbench' ? own : dht === 'amino' ? amino : Math.max(own, amino)
}

/**
 * Resolve once a routing table holds at least `minPeers` peers (by default either DHT's: a renter that joined only
 * through Amino has nobody in parkbench's); reject with {@link AbortedError} on abort.
 */
export async function waitForDhtPeers(
  node: ParkbenchNode,
  minPeers: number,
  options: AbortOptions & { dht?: DhtChoice } = {},
): Promise<void> {
  const signal = options.signal ?? AbortSignal.timeout(30_000)
  const dht = options.dht ?? 'any'
  while (dhtRoutingTableSize(node, dht) < minPeers) {
    if (signal.aborted) {
      throw new AbortedError(`DHT routing table has ${dhtRoutingTableSize(node, dht)} of ${minPeers} peers`, {
        cause: signal.reason,
      })
    }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
