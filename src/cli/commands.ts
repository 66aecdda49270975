import type { Command } from './command.js'
import { idCommand } from './id.js'

/** Every top-level command, in the order `parkbench --help` lists them. One file per command. */
export const COMMANDS: Command[] = [idCommand]
