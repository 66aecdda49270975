import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { InvalidInputError } from '../errors.js'
import { peerIdOfAddress } from '../market/discover.js'
import type { OptionSpec } from './command.js'

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
