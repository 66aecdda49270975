import { chainCommand } from './chain.js'
import { channelCommand } from './channel.js'
import type { Command } from './command.js'
import { demoCommand } from './demo.js'
import { idCommand } from './id.js'
import { inferCommand } from './infer.js'
import { modelCommand } from './model.js'
import { offersCommand } from './offers.js'
import { startCommand } from './start.js'

/** Every top-level command, in the order `parkbench --help` lists them. One file per command. */
export const COMMANDS: Command[] = [
  demoCommand,
  startCommand,
  idCommand,
  modelCommand,
  inferCommand,
  offersCommand,
  channelCommand,
  chainCommand,
]
