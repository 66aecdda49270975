import { mkdir, rm, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { writeFileDurable } from '../atomic-file.js'
import { resolveDataDir } from '../daemon/data-dir.js'
import { InvalidInputError } from '../errors.js'
import { type Command, type CommandIo, type ParsedArgs, parseCommandArgs, stringFlag, toJson } from './command.js'
import { DATA_DIR_OPTION, JSON_OPTION } from './common-options.js'
import {
  LAUNCHD_LABEL,
  launchdPlist,
  launchdPlistPath,
  parkbenchBin,
  SERVICE_NAME,
  type ServiceCommand,
  systemdUnit,
  systemdUnitPath,
} from './service-unit.js'
import { startCommand } from './start.js'

/** Flags after `--` go to `parkbench start`: checked now, so a typo fails here and not in the journal at boot. */
function commandOf(args: ParsedArgs, env: NodeJS.ProcessEnv): ServiceCommand {
  const flags = args.positionals
  const checked = parseCommandArgs(startCommand, flags)
  if (checked.values['data-dir'] != null) {
    throw new InvalidInputError('Give --data-dir before `--` (the service always names its data dir)')
  }
  if (checked.positionals.length > 0 || checked.help) {
    throw new InvalidInputError(`Not a flag of parkbench start: ${checked.help ? '--help' : checked.positionals[0]}`)
  }
  return {
    node: process.execPath,
    bin: parkbenchBin(),
    dataDir: resolveDataDir(stringFlag(args, 'data-dir'), env),
    flags,
  }
}

const NEXT_SYSTEMD = [
  'systemctl --user daemon-reload && systemctl --user enable --now parkbench',
  'journalctl --user -u parkbench -f',
  // A user's services stop at logout unless lingering is on.
  'loginctl enable-linger "$USER"   # keep it running when you are logged out',
]

const installCommand: Command = {
  name: 'install',
  summary: 'Run the daemon as a systemd user service (or print the launchd agent a Mac needs); logs go to the journal.',
  usage: 'parkbench service install [--print | --launchd] [--data-dir DIR] [--json] [-- START_FLAGS...]',
  maxPositionals: 1000,
  options: {
    ...DATA_DIR_OPTION,
    print: { type: 'boolean', description: 'Print the systemd unit instead of writing it' },
    launchd: { type: 'boolean', description: 'Print the macOS launchd plist (for ~/Library/LaunchAgents) instead' },
    ...JSON_OPTION,
  },
  async run(args, io) {
    const command = commandOf(args, io.env)
    const json = args.values.json === true
    if (args.values.launchd === true) {
      const path = launchdPlistPath(io.env)
      const plist = launchdPlist(command, io.env)
      if (json) {
        io.stdout(`${toJson({ path, plist, next: [`launchctl load -w ${path}`] })}\n`)
      } else {
        io.stdout(plist)
        io.stderr(`# Save it as ${path}, then: launchctl load -w ${path}   (label ${LAUNCHD_LABEL})\n`)
      }
      return 0
    }
    const path = systemdUnitPath(io.env)
    const unit = systemdUnit(command)
    if (args.values.print === true) {
      io.stdout(json ? `${toJson({ path, unit })}\n` : unit)
      return 0
    }
    await mkdir(dirname(path), { recursive: true })
    const replaced = await exists(path)
    await writeFileDurable(path, unit, 0o644)
    if (json) {
      io.stdout(`${toJson({ path, unit, replaced, next: NEXT_SYSTEMD })}\n`)
    } else {
      io.stdout(`${replaced ? 'replaced' : 'wrote'} ${path}\nNext:\n${NEXT_SYSTEMD.map((l) => `  ${l}`).join('\n')}\n`)
    }
    return 0
  },
}

const uninstallCommand: Command = {
  name: 'uninstall',
  summary: 'Remove the systemd user unit that `service install` wrote (stop the service first).',
  usage: 'parkbench service uninstall [--json]',
  options: { ...JSON_OPTION },
  async run(args, io) {
    return uninstall(args, io)
  },
}

async function uninstall(args: ParsedArgs, io: CommandIo): Promise<number> {
  const path = systemdUnitPath(io.env)
  const removed = await exists(path)
  await rm(path, { force: true })
  // What `systemctl --user disable` would remove; done here so no dangling link to a deleted unit is left.
  await rm(join(dirname(path), 'default.target.wants', `${SERVICE_NAME}.service`), { force: true })
  const next = removed ? [`systemctl --user stop ${SERVICE_NAME}; systemctl --user daemon-reload`] : []
  if (args.values.json === true) {
    io.stdout(`${toJson({ path, removed, next })}\n`)
    return 0
  }
  io.stdout(
    removed
      ? `removed ${path}\nNext (stops it if it runs):\n  ${next[0]}\n`
      : `no unit at ${path}: nothing to remove\n`,
  )
  return 0
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}

export const serviceCommand: Command = {
  name: 'service',
  summary: 'Run parkbench as a service: a systemd user unit (Linux) or a launchd agent (macOS).',
  usage: 'parkbench service <install|uninstall> [options]',
  subcommands: [installCommand, uninstallCommand],
}
