import type { ReachabilityStatus } from '../net/reachability.js'

const MEANING = {
  public: 'public (peers dialled this node back)',
  private: 'private (behind a NAT or firewall: reachable through relays)',
  local: 'local (loopback only: reachable from this machine)',
  unknown: 'unknown (still finding out)',
} as const

/** How `start` and `status` show a node's reachability: one line, then its relays and relayed addresses. */
export function reachLines(reach: ReachabilityStatus): string[] {
  const lines = [`  reachability: ${MEANING[reach.reachability]}`]
  if (reach.reachability === 'private' && reach.relays.length === 0) lines.push('  relays: none reserved yet')
  for (const relay of reach.relays) lines.push(`  relay reserved on ${relay}`)
  for (const addr of reach.relayedAddresses) lines.push(`  relayed address ${addr}`)
  return lines
}
