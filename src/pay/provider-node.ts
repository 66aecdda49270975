import { type Hex, keccak256 } from 'viem'

/**
 * The id a channel binds its provider node by: keccak256 of the node's libp2p peer id bytes (its multihash, what
 * `peerId.toMultihash().bytes` returns). A channel opened for one node is refused by every other node, even one
 * sharing the payout address.
 *
 * @example
 * const providerNode = providerNodeId(peerId.toMultihash().bytes)
 */
export function providerNodeId(peerIdBytes: Uint8Array): Hex {
  return keccak256(peerIdBytes)
}
