import { type ParseArgsConfig, parseArgs } from 'node:util'
import { InvalidInputError, ParkbenchError } from '../errors.js'

export type OptionSpec = NonNullable<ParseArgsConfig['options']>[string] & { description: string; valueName?: string }

/** What a command writes to, so tests can capture it. */
export interface CommandIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** Aborted on SIGINT/SIGTERM: long-running commands shut down cleanly when it fires. */
  signal: AbortSignal
  env: NodeJS.ProcessEnv
  /** Whether stderr is a terminal: progress bars and spinners are drawn only there (see progress.ts). */
  stderrIsTTY?: boolean
}

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>
  positionals: string[]
}

/** One CLI command. Commands with subcommands (`model add`) list them in `subcommands` and have no `run`. */
export interface Command {
  name: string
  summary: string
  /** e.g. `parkbench offers [--model HASH]`. */
  usage: string
  options?: Record<string, OptionSpec>
  /** How many positionals the command takes at most; default 0. */
  maxPositionals?: number
  subcommands?: Command[]
  run?(args: ParsedArgs, io: CommandIo): Promise<number | undefined>
}

/** Exit codes: 0 ok, 1 a runtime failure, 2 bad usage or input. */
export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

export function helpText(command: Command, path: string[]): string {
  const lines = [`Usage: ${command.usage}`, '', command.summary]
  if (command.subcommands != null) {
    lines.push('', 'Commands:')
    for (const sub of command.subcommands) lines.push(`  ${[...path, sub.name].join(' ').padEnd(28)} ${sub.summary}`)
  }
  const options = { ...command.options, help: { type: 'boolean', description: 'Show this help' } as OptionSpec }
  lines.push('', 'Options:')
  for (const [name, spec] of Object.entries(options)) {
    const flag = `--${name}${spec.type === 'string' ? ` ${spec.valueName ?? 'VALUE'}` : ''}${spec.multiple === true ? '...' : ''}`
    lines.push(`  ${flag.padEnd(28)} ${spec.description}`)
  }
  return `${lines.join('\n')}\n`
}

/** Parse `argv` for `command`, throwing {@link InvalidInputError} on unknown flags or extra arguments. */
export function parseCommandArgs(command: Command, argv: string[]): ParsedArgs & { help: boolean } {
  const options: ParseArgsConfig['options'] = { help: { type: 'boolean', short: 'h' } }
  for (const [name, spec] of Object.entries(command.options ?? {})) {
    const { description: _d, valueName: _v, ...rest } = spec
    options[name] = rest
  }
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true })
  } catch (err) {
    throw new InvalidInputError((err as Error).message, { cause: err })
  }
  const help = parsed.values.help === true
  if (!help && parsed.positionals.length > (command.maxPositionals ?? 0)) {
    throw new InvalidInputError(`Unexpected argument: ${parsed.positionals[command.maxPositionals ?? 0]}`)
  }
  return { values: parsed.values as ParsedArgs['values'], positionals: parsed.positionals, help }
}

/** Map an error to one line and an exit code. */
export function describeError(err: unknown): { line: string; exitCode: number } {
  if (err instanceof InvalidInputError) {
    // Bad usage keeps its short line; a refinement with its own code (INVALID_AMOUNT) shows it.
    const code = err.code === 'INVALID_INPUT' ? '' : ` [${err.code}]`
    return { line: `error${code}: ${err.message}`, exitCode: EXIT_USAGE }
  }
  if (err instanceof ParkbenchError) return { line: `error [${err.code}]: ${err.message}`, exitCode: EXIT_FAILURE }
  return { line: `error: ${(err as Error)?.message ?? String(err)}`, exitCode: EXIT_FAILURE }
}

/** Read a string flag. */
export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name]
  return typeof value === 'string' ? value : undefined
}

/** Read a repeatable string flag. */
export function stringListFlag(args: ParsedArgs, name: string): string[] {
  const value = args.values[name]
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string')
  return typeof value === 'string' ? [value] : []
}

/** Read a non-negative integer flag, or throw {@link InvalidInputError}. */
export function integerFlag(args: ParsedArgs, name: string): number | undefined {
  const value = stringFlag(args, name)
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value)) throw new InvalidInputError(`--${name} takes a whole number, got "${value}"`)
  return Number(value)
}

/** Read a bigint flag (token base units), or throw {@link InvalidInputError}. */
export function bigintFlag(args: ParsedArgs, name: string): bigint | undefined {
  const value = stringFlag(args, name)
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value)) throw new InvalidInputError(`--${name} takes a whole number of base units, got "${value}"`)
  return BigInt(value)
}

/** JSON with bigints as decimal strings and bytes as hex. */
export { toJson } from '../json.js'
