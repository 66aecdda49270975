import { chainCommand } from './chain.js'
import { channelCommand } from './channel.js'
import type { Command } from './command.js'
import { consoleCommand } from './console.js'
import { demoCommand } from './demo.js'
import { gatewayCommand } from './gateway.js'
import { idCommand } from './id.js'
import { inferCommand } from './infer.js'
import { leasesCommand } from './leases.js'
import { mcpCommand } from './mcp.js'
import { modelCommand } from './model.js'
import { offersCommand } from './offers.js'
import { serviceCommand } from './service.js'
import { startCommand } from './start.js'
import { statusCommand } from './status.js'
import { swarmCommand } from './swarm.js'

/** Every top-level command, in the order `parkbench --help` lists them. One file per command. */
export const COMMANDS: Command[] = [
  demoCommand,
  startCommand,
  serviceCommand,
  statusCommand,
  consoleCommand,
  idCommand,
  modelCommand,
  inferCommand,
  leasesCommand,
  offersCommand,
  gatewayCommand,
  mcpCommand,
  channelCommand,
  chainCommand,
  swarmCommand,
]
