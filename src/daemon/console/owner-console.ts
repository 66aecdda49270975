import { logger } from '@libp2p/logger'
import { dataDirPath } from '../../data-dir.js'
import { InvalidInputError } from '../../errors.js'
import type { SettleReport } from '../../pay/settler.js'
import { type ConsoleServer, startConsoleServer } from './console-server.js'
import { type ConsoleSource, ConsoleState } from './console-state.js'
import { loadOrCreateConsoleToken } from './console-token.js'

const log = logger('parkbench:daemon:console')

/** What the console's buttons do. */
export interface ConsoleActions {
  /** Withdraw the offer and end running leases PROVIDER_PAUSED. */
  pause(): Promise<void>
  resume(): Promise<void>
  /** Re-sign and re-advertise the offer at this price; running leases keep theirs. */
  setPrice(pricePerSecond: bigint): Promise<void>
  /** Settle every channel now (`force`: even where the gas costs more than it brings). */
  settle(options: { force: boolean }): Promise<SettleReport>
}

export interface OwnerConsoleComponents {
  source: ConsoleSource
  actions: ConsoleActions
  /** `/metrics`, when the daemon keeps metrics. */
  metrics?: () => Promise<{ contentType: string; body: string }>
}

export interface OwnerConsoleInit {
  dataDir: string
  /** Default 127.0.0.1. */
  host?: string
  /** Default 8470; 0 for any free port. */
  port?: number
  /** How often earnings and load are sampled for the chart, ms. Default 5000. */
  sampleMs?: number
}

/** The page's polling interval, ms: also what the page is told, so a test need not guess it. */
export const CONSOLE_POLL_MS = 2_000

/**
 * The owner console: a token-protected web page on loopback with the daemon's state, earnings over time and the
 * pause / resume / price / settle actions, plus `/metrics`. Start it after the daemon's services; stop it first.
 */
export class OwnerConsole {
  private readonly components: OwnerConsoleComponents
  private readonly init: OwnerConsoleInit
  private readonly consoleState: ConsoleState
  private server: ConsoleServer | undefined
  private timer: NodeJS.Timeout | undefined

  constructor(components: OwnerConsoleComponents, init: OwnerConsoleInit) {
    this.components = components
    this.init = init
    this.consoleState = new ConsoleState(components.source, { logFile: dataDirPath(init.dataDir, 'earningsLog') })
  }

  /** `http://127.0.0.1:8470/`, once started. */
  get url(): string | undefined {
    return this.server?.url
  }

  /** The URL to open: `http://127.0.0.1:8470/#token=...`. */
  urlWithToken(): string | undefined {
    return this.server?.urlWithToken()
  }

  async start(): Promise<void> {
    const token = await loadOrCreateConsoleToken(this.init.dataDir)
    await this.consoleState.load()
    const { actions } = this.components
    const ok = { ok: true }
    this.server = await startConsoleServer({
      token,
      ...(this.init.host !== undefined ? { host: this.init.host } : {}),
      ...(this.init.port !== undefined ? { port: this.init.port } : {}),
      ...(this.components.metrics !== undefined ? { metrics: this.components.metrics } : {}),
      routes: {
        'GET /api/v1/state': async () => ({
          pollMs: CONSOLE_POLL_MS,
          ...((await this.consoleState.state()) as object),
        }),
        'POST /api/v1/pause': async () => {
          await actions.pause()
          return ok
        },
        'POST /api/v1/resume': async () => {
          await actions.resume()
          return ok
        },
        'POST /api/v1/price': async ({ body }) => {
          const price = (body as { pricePerSecond?: unknown } | undefined)?.pricePerSecond
          if (typeof price !== 'string' || !/^[1-9]\d{0,30}$/.test(price)) {
            throw new InvalidInputError('pricePerSecond must be a positive whole number of base units, as a string')
          }
          await actions.setPrice(BigInt(price))
          return ok
        },
        'POST /api/v1/settle': async ({ body }) => {
          const force = (body as { force?: unknown } | undefined)?.force
          if (force != null && typeof force !== 'boolean') throw new InvalidInputError('force must be true or false')
          return actions.settle({ force: force === true })
        },
      },
    })
    const sampleMs = this.init.sampleMs ?? 5_000
    this.timer = setInterval(() => {
      this.consoleState.sample().catch((err: Error) => log('earnings sample failed - %s', err.message))
    }, sampleMs)
    this.timer.unref()
    await this.consoleState.sample()
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    await this.server?.close()
    this.server = undefined
  }
}

/** Create the owner console; `start()` listens. */
export function createOwnerConsole(components: OwnerConsoleComponents, init: OwnerConsoleInit): OwnerConsole {
  return new OwnerConsole(components, init)
}
