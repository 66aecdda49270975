import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { resolveDataDir } from '../daemon/data-dir.js'
import { loadOrCreatePeerKey } from '../net/keys.js'
import { type Command, toJson } from './command.js'
import { DATA_DIR_OPTION, JSON_OPTION } from './common-options.js'

export const idCommand: Command = {
  name: 'id',
  summary: "Print this node's peer id (creating its key on first use).",
  usage: 'parkbench id [--data-dir DIR] [--json]',
  options: { ...DATA_DIR_OPTION, ...JSON_OPTION },
  async run(args, io) {
    const dataDir = resolveDataDir(args.values['data-dir'] as string | undefined, io.env)
    const peerId = peerIdFromPrivateKey(await loadOrCreatePeerKey(dataDir))
    io.stdout(
      args.values.json === true ? `${toJson({ peerId: peerId.toString(), dataDir })}\n` : `${peerId.toString()}\n`,
    )
    return 0
  },
}
