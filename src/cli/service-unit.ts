import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The systemd unit's name: `systemctl --user ... parkbench` and `journalctl --user -u parkbench` find it. */
export const SERVICE_NAME = 'parkbench'
/** The launchd job's label (and its plist's file name). */
export const LAUNCHD_LABEL = 'org.parkbench.daemon'

/** What the service runs: `node <bin> start --data-dir DIR <flags>`, all paths absolute. */
export interface ServiceCommand {
  node: string
  bin: string
  dataDir: string
  /** Flags for `parkbench start` given after `--`. */
  flags: string[]
}

/** The argv of the service's command. */
export function serviceArgv(command: ServiceCommand): string[] {
  return [command.node, command.bin, 'start', '--data-dir', command.dataDir, ...command.flags]
}

/** The installed package's bin/parkbench.js: the nearest package.json above this file (from src/ or dist/src/). */
export function parkbenchBin(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bin', 'parkbench.js'))) {
      return join(dir, 'bin', 'parkbench.js')
    }
  }
  throw new Error('Cannot find bin/parkbench.js above the CLI')
}

/** `$XDG_CONFIG_HOME/systemd/user/parkbench.service` (default `~/.config`), where a user's units live. */
export function systemdUnitPath(env: NodeJS.ProcessEnv): string {
  const configHome =
    env.XDG_CONFIG_HOME != null && env.XDG_CONFIG_HOME !== ''
      ? resolve(env.XDG_CONFIG_HOME)
      : join(env.HOME ?? homedir(), '.config')
  return join(configHome, 'systemd', 'user', `${SERVICE_NAME}.service`)
}

/** `~/Library/LaunchAgents/org.parkbench.daemon.plist`, where a Mac user's agents live. */
export function launchdPlistPath(env: NodeJS.ProcessEnv): string {
  return join(env.HOME ?? homedir(), 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`)
}

/**
 * One word of an ExecStart line, quoted as systemd reads it: specifiers (`%`) and variables (`$`) doubled so a
 * path or flag is taken literally, and double quotes around anything with spaces, quotes or backslashes.
 */
export function systemdQuote(word: string): string {
  const literal = word.replace(/%/g, '%%').replace(/\$/g, '$$$$')
  if (literal !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(literal)) return literal
  return `"${literal.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`
}

/**
 * A systemd user unit that keeps the daemon running: restarted when it fails, stopped with SIGTERM (the daemon
 * shuts down cleanly on it), its output in the journal under `parkbench`.
 */
export function systemdUnit(command: ServiceCommand): string {
  return [
    '[Unit]',
    "Description=parkbench: sell this machine's spare compute by the second",
    'Documentation=https://www.npmjs.com/package/parkbench',
    '',
    '[Service]',
    'Type=exec',
    `ExecStart=${serviceArgv(command).map(systemdQuote).join(' ')}`,
    'Restart=on-failure',
    'RestartSec=5',
    // The daemon stops leases, settles and closes its stores on SIGTERM: give it time before SIGKILL.
    'KillSignal=SIGTERM',
    'TimeoutStopSec=60',
    'StandardOutput=journal',
    'StandardError=journal',
    `SyslogIdentifier=${SERVICE_NAME}`,
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n')
}

const xml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/** The launchd agent a Mac needs for the same: started at login, restarted when it exits with a failure. */
export function launchdPlist(command: ServiceCommand, env: NodeJS.ProcessEnv): string {
  const logs = join(env.HOME ?? homedir(), 'Library', 'Logs', 'parkbench.log')
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    '<dict>',
    '  <key>Label</key>',
    `  <string>${LAUNCHD_LABEL}</string>`,
    '  <key>ProgramArguments</key>',
    '  <array>',
    ...serviceArgv(command).map((arg) => `    <string>${xml(arg)}</string>`),
    '  </array>',
    '  <key>RunAtLoad</key>',
    '  <true/>',
    '  <key>KeepAlive</key>',
    '  <dict>',
    '    <key>SuccessfulExit</key>',
    '    <false/>',
    '  </dict>',
    '  <key>ThrottleInterval</key>',
    '  <integer>5</integer>',
    '  <key>StandardOutPath</key>',
    `  <string>${xml(logs)}</string>`,
    '  <key>StandardErrorPath</key>',
    `  <string>${xml(logs)}</string>`,
    '</dict>',
    '</plist>',
    '',
  ].join('\n')
}
