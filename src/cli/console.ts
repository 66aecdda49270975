import { controlRequest } from '../daemon/control.js'
import { resolveDataDir } from '../daemon/data-dir.js'
import { ParkbenchError } from '../errors.js'
import { type Command, stringFlag } from './command.js'
import { DATA_DIR_OPTION, JSON_OPTION } from './common-options.js'

/** The running daemon serves no console (`--no-console`, or its port was taken). */
export class ConsoleNotServedError extends ParkbenchError {
  static override name = 'ConsoleNotServedError'
  constructor(
    message = 'The running daemon serves no owner console (started with --no-console, or its port was taken)',
  ) {
    super(message, 'CONSOLE_NOT_SERVED')
  }
}

export const consoleCommand: Command = {
  name: 'console',
  summary: "Print the URL of the running daemon's owner console (with its access token); open it in a browser.",
  usage: 'parkbench console [--data-dir DIR] [--json]',
  options: { ...DATA_DIR_OPTION, ...JSON_OPTION },
  async run(args, io) {
    const dataDir = resolveDataDir(stringFlag(args, 'data-dir'), io.env)
    const { url } = await controlRequest<{ url: string | null }>(dataDir, 'GET', '/v1/console', undefined, {
      signal: AbortSignal.any([io.signal, AbortSignal.timeout(10_000)]),
    })
    if (url == null) throw new ConsoleNotServedError()
    io.stdout(args.values.json === true ? `${JSON.stringify({ url })}\n` : `${url}\n`)
    return 0
  },
}
