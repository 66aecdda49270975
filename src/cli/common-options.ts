import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { InvalidInputError } from '../errors.js'
import { peerIdOfAddress } from '../market/discover.js'
import type { AminoInit } from '../net/amino.js'
import { type OptionSpec, type ParsedArgs, stringListFlag } from './command.js'

export const DATA_DIR_OPTION: Record<string, OptionSpec> = {
  'data-dir': {
    type: 'string',
    valueName: 'DIR',
    description: 'Data dir (keys, models, payments). Default $PARKBENCH_HOME or ~/.parkbench',
  },
}

export const JSON_OPTION: Record<string, OptionSpec> = {
  json: { type: 'boolean', description: 'Print machine-readable JSON' },
}

/** How a renter finds providers: bootstrap peers and/or mDNS. */
export const DISCOVERY_OPTIONS: Record<string, OptionSpec> = {
  bootstrap: {
    type: 'string',
    multiple: true,
    valueName: 'ADDR',
    description: 'Peer to join through (/ip4/.../tcp/.../p2p/...)',
  },
  mdns: { type: 'boolean', description: 'Also find peers on the LAN by mDNS (multicast)' },
}

/** The public IPFS DHT beside parkbench's (docs/amino.md): provider and renter commands take the same flags. */
export const AMINO_OPTIONS: Record<string, OptionSpec> = {
  amino: {
    type: 'boolean',
    description: 'Also use the public IPFS DHT (Amino, /ipfs/kad/1.0.0): advertise and look up there too',
  },
  'amino-bootstrap': {
    type: 'string',
    multiple: true,
    valueName: 'ADDR',
    description: 'Amino peer to join through instead of the public IPFS bootstrap peers (implies --amino)',
  },
  'amino-lan': {
    type: 'boolean',
    description:
      'Keep LAN and loopback addresses on Amino: a private swarm that speaks /ipfs/kad/1.0.0, never the public one',
  },
}

/** The Amino settings the flags ask for, or undefined when none of them is given. */
export function aminoFlags(args: ParsedArgs): AminoInit | undefined {
  const bootstrap = stringListFlag(args, 'amino-bootstrap')
  for (const addr of bootstrap) peerAddressFlag(addr, '--amino-bootstrap')
  const lan = args.values['amino-lan'] === true
  if (args.values.amino !== true && bootstrap.length === 0 && !lan) return undefined
  return { ...(bootstrap.length > 0 ? { bootstrap } : {}), ...(lan ? { addressScope: 'all' as const } : {}) }
}

/** A peer's multiaddr given as `flag`: it must parse and end in /p2p/<peer id>, or {@link InvalidInputError}. */
export function peerAddressFlag(value: string, flag: string): Multiaddr {
  try {
    const addr = multiaddr(value)
    peerIdOfAddress(addr)
    return addr
  } catch (err) {
    throw new InvalidInputError(`${flag} ${value} is not a multiaddr ending in /p2p/<peer id>`, { cause: err })
  }
}
