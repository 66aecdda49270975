import type { ComponentLogger, Logger } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'

function quiet(): Logger {
  const log = Object.assign(() => {}, {
    enabled: false,
    error: () => {},
    trace: () => {},
    newScope: (): Logger => log,
  })
  return log
}

/**
 * libp2p's component logger, or, when `DEBUG` names nothing, one that logs nothing and costs nothing. libp2p makes a
 * logger (a `debug` instance, which asks whether stderr is a TTY) for every stream and every connection; with
 * hundreds of nodes in one process that was ~1.5% of its CPU for output nobody asked for. With `DEBUG` set, libp2p's
 * own logger, unchanged. (A `debug.enable()` call at run time does not reach nodes made before it.)
 */
export function componentLogger(env: NodeJS.ProcessEnv = process.env): ComponentLogger {
  if (env.DEBUG != null && env.DEBUG.trim() !== '') return defaultLogger()
  const log = quiet()
  return { forComponent: () => log }
}
