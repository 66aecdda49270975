import { logger } from '@libp2p/logger'
import type { ConsoleSource } from './console/console-state.js'
import { createOwnerConsole, type OwnerConsole, type OwnerConsoleInit } from './console/owner-console.js'
import type { Daemon } from './daemon.js'
import { NoPaymentTermsError } from './errors.js'

const log = logger('parkbench:daemon:console')

/** What the console reads, from the daemon's public API only. */
export function consoleSource(daemon: Daemon): ConsoleSource {
  return {
    status: async () => daemon.status(),
    leaseList: () => daemon.leaseList(),
    terms: async () => daemon.terms(),
    paused: () => daemon.paused,
    channels: async () => daemon.channels(),
    settlements: async () => daemon.settlements(),
    jobCount: () => daemon.metrics?.jobCount ?? 0,
    policy: () => daemon.policy?.describe() ?? null,
  }
}

/**
 * Start the owner console for a started daemon. A console that cannot listen (the port is taken) costs the console,
 * not the node: `warn` tells the owner and undefined is returned.
 */
export async function startDaemonConsole(
  daemon: Daemon,
  init: Omit<OwnerConsoleInit, 'dataDir'>,
  warn: (message: string) => void,
): Promise<OwnerConsole | undefined> {
  const metrics = daemon.metrics
  const ownerConsole = createOwnerConsole(
    {
      source: consoleSource(daemon),
      actions: {
        pause: async () => daemon.pause(),
        resume: async () => daemon.resume(),
        setPrice: async (price) => daemon.setPrice(price),
        settle: async ({ force }) => {
          const settler = daemon.settler
          if (settler == null) throw new NoPaymentTermsError('This daemon is not selling: nothing to settle')
          return settler.settleWithReport(undefined, { force })
        },
      },
      ...(metrics !== undefined ? { metrics: async () => metrics.exposition() } : {}),
    },
    { dataDir: daemon.config.dataDir, ...init },
  )
  try {
    await ownerConsole.start()
    return ownerConsole
  } catch (err) {
    const message = `owner console unavailable on ${init.host ?? '127.0.0.1'}:${init.port ?? 8470}: ${(err as Error).message}`
    log.error('%s', message)
    warn(message)
    return undefined
  }
}
