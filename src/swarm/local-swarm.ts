import { setMaxListeners } from 'node:events'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { AbortOptions, PrivateKey } from '@libp2p/interface'
import { createNode, type NodeInit, type ParkbenchNode } from '../net/create-node.js'
import { waitForDhtPeers } from '../net/dht-ready.js'

export interface SwarmMember {
  node: ParkbenchNode
  privateKey: PrivateKey
}

export interface LocalSwarmInit {
  /** Nodes in all, the hub included. */
  size: number
  /** Loopback address to listen on. Default 127.0.0.1. */
  host?: string
  /** Passed to every node (listen and bootstrap are set by the swarm). */
  node?: Omit<NodeInit, 'listen' | 'bootstrap' | 'privateKey'>
}

export interface LocalSwarm {
  /** The bootstrap hub: every other node dials it first. */
  hub: SwarmMember
  /** All members, the hub first. */
  members: SwarmMember[]
  /** The hub's multiaddrs, for more nodes to bootstrap from. */
  bootstrap: string[]
  /** Start one more member that joins through the hub. */
  add(options?: AbortOptions): Promise<SwarmMember>
  stop(): Promise<void>
}

/**
 * Start `size` libp2p nodes in this process on loopback, joined in a star around a bootstrap hub (the topology
 * that proved reliable for provide/find here), and wait until every routing table holds a peer.
 *
 * @example
 * ```ts
 * const swarm = await startLocalSwarm({ size: 20 })
 * // ... swarm.members[3].node ...
 * await swarm.stop()
 * ```
 */
export async function startLocalSwarm(init: LocalSwarmInit, options: AbortOptions = {}): Promise<LocalSwarm> {
  const host = init.host ?? '127.0.0.1'
  const listen = [`/ip4/${host}/tcp/0`]
  const signal = options.signal ?? AbortSignal.timeout(60_000)
  setMaxListeners(Infinity, signal)
  const start = async (bootstrap: string[]): Promise<SwarmMember> => {
    const privateKey = await generateKeyPair('Ed25519')
    const node = await createNode({ ...init.node, privateKey, listen, bootstrap })
    return { node, privateKey }
  }
  const hub = await start([])
  const members: SwarmMember[] = [hub]
  const bootstrap = hub.node.getMultiaddrs().map((a) => a.toString())
  try {
    const rest = await Promise.all(Array.from({ length: Math.max(0, init.size - 1) }, async () => start(bootstrap)))
    members.push(...rest)
    await Promise.all(rest.map(async (m) => waitForDhtPeers(m.node, 1, { signal })))
    await waitForDhtPeers(hub.node, Math.min(rest.length, 20), { signal })
  } catch (err) {
    await Promise.all(members.map(async (m) => m.node.stop()))
    throw err
  }
  return {
    hub,
    members,
    bootstrap,
    async add(addOptions = {}) {
      const member = await start(bootstrap)
      members.push(member)
      await waitForDhtPeers(member.node, 1, { signal: addOptions.signal ?? AbortSignal.timeout(30_000) })
      return member
    },
    async stop() {
      await Promise.all(members.map(async (m) => m.node.stop()))
    },
  }
}
