import '../polyfill.js'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  type Command,
  type CommandIo,
  describeError,
  EXIT_OK,
  EXIT_USAGE,
  helpText,
  parseCommandArgs,
} from './command.js'
import { COMMANDS } from './commands.js'

const ROOT: Command = {
  name: 'parkbench',
  summary: 'Rent and sell edge compute by the second: ONNX inference over libp2p, paid over an EVM payment channel.',
  usage: 'parkbench <command> [options] | parkbench --version',
  subcommands: COMMANDS,
}

/**
 * Run the CLI. Returns the exit code: 0 ok, 1 failure, 2 bad usage. Errors print one line to stderr.
 */
export async function main(argv: string[], io: CommandIo): Promise<number> {
  if (argv[0] === '--version' || argv[0] === '-V') {
    io.stdout(`parkbench ${packageVersion()}\n`)
    return EXIT_OK
  }
  let command = ROOT
  const path = ['parkbench']
  let rest = argv
  while (command.subcommands != null && rest.length > 0 && !rest[0]!.startsWith('-')) {
    const next = command.subcommands.find((c) => c.name === rest[0])
    if (next == null) {
      io.stderr(`error: unknown command "${[...path, rest[0]].join(' ')}". Run "${path.join(' ')} --help".\n`)
      return EXIT_USAGE
    }
    command = next
    path.push(next.name)
    rest = rest.slice(1)
  }
  try {
    const args = parseCommandArgs(command, rest)
    if (args.help || command.run == null) {
      if (command.run == null && !args.help) {
        io.stderr(helpText(command, path))
        return EXIT_USAGE
      }
      io.stdout(helpText(command, path))
      return EXIT_OK
    }
    return (await command.run(args, io)) ?? EXIT_OK
  } catch (err) {
    const { line, exitCode } = describeError(err)
    io.stderr(`${line}\n`)
    if (io.env.PARKBENCH_DEBUG != null) io.stderr(`${(err as Error)?.stack}\n`)
    return exitCode
  }
}

/** The installed package's version: the nearest package.json above this file (from src/ or dist/src/). */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    const file = join(dir, 'package.json')
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
  }
  return 'unknown'
}

/** Entry point for bin/parkbench.js: wires process signals and streams to {@link main}. */
export async function runCli(): Promise<void> {
  const controller = new AbortController()
  let signals = 0
  const onSignal = (): void => {
    signals++
    if (signals > 1) process.exit(130)
    controller.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const code = await main(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    signal: controller.signal,
    env: process.env,
    stderrIsTTY: process.stderr.isTTY === true,
  })
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  // The command is done: don't wait on handles a library left open (worker pools, sockets in teardown).
  process.exit(code)
}
