import { readConfigFile } from '../daemon/config.js'
import { ControlRequestError, controlRequest, DaemonNotRunningError } from '../daemon/control.js'
import type { DaemonStatus } from '../daemon/daemon.js'
import { resolveDataDir } from '../daemon/data-dir.js'
import type { DaemonEarnings } from '../daemon/earnings.js'
import { type LeaseLogEntry, readLeaseLog } from '../lease/lease-log.js'
import type { LeaseInfo } from '../lease/lease-provider.js'
import { NATIVE_UNITS, type TokenUnits } from '../pay/amounts.js'
import { showAmount, showRate } from './amounts.js'
import { type Command, integerFlag, stringFlag, toJson } from './command.js'
import { DATA_DIR_OPTION, JSON_OPTION } from './common-options.js'
import { earningsLines } from './status.js'

type ActiveRow = Omit<LeaseInfo, 'pricePerSecond' | 'amountPaid'> & { pricePerSecond: string; amountPaid: string }

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`
}

/** No daemon to say what it sells in: native, unless config.json names a token (then base units: decimals unknown). */
async function configuredUnits(dataDir: string): Promise<TokenUnits | undefined> {
  const token = await readConfigFile(dataDir).then(
    (c) => c.pay?.token,
    () => undefined,
  )
  return token == null ? NATIVE_UNITS : undefined
}

export const leasesCommand: Command = {
  name: 'leases',
  summary: "List leases: the running daemon's active ones, then past ones (sold and rented) from the data dir.",
  usage: 'parkbench leases [--data-dir DIR] [--limit N] [--json]',
  options: {
    ...DATA_DIR_OPTION,
    limit: { type: 'string', valueName: 'N', description: 'Past leases to show (default 20)' },
    ...JSON_OPTION,
  },
  async run(args, io) {
    const dataDir = resolveDataDir(stringFlag(args, 'data-dir'), io.env)
    const limit = integerFlag(args, 'limit') ?? 20
    let active: ActiveRow[] = []
    let earnings: DaemonEarnings | undefined
    let soldUnits: TokenUnits | undefined
    let daemon: 'running' | 'not running' = 'running'
    try {
      const signal = AbortSignal.any([io.signal, AbortSignal.timeout(10_000)])
      const reply = await controlRequest<{ leases: ActiveRow[] }>(dataDir, 'GET', '/v1/leases', undefined, { signal })
      active = reply.leases.filter((l) => l.state !== 'ended')
      const status = await controlRequest<DaemonStatus>(dataDir, 'GET', '/v1/status', undefined, { signal })
      earnings = status.earnings
      soldUnits = status.tokenUnits
    } catch (err) {
      if (!(err instanceof DaemonNotRunningError || err instanceof ControlRequestError)) throw err
      daemon = 'not running'
    }
    const past: LeaseLogEntry[] = await readLeaseLog(dataDir, limit)
    const pastSoldUnits = soldUnits ?? (await configuredUnits(dataDir))
    if (args.values.json === true) {
      io.stdout(`${toJson({ dataDir, daemon, active, past, ...(earnings != null ? { earnings } : {}) })}\n`)
      return 0
    }
    const nowMs = Date.now()
    io.stdout(`daemon ${daemon} on ${dataDir}\n`)
    if (daemon === 'running') {
      io.stdout(active.length === 0 ? 'no active leases\n' : `${active.length} active:\n`)
      for (const l of active) {
        io.stdout(
          `  ${l.leaseId.slice(0, 18)}  ${l.state.padEnd(9)} renter ${l.renter.slice(-10)}  ${showRate(l.pricePerSecond, soldUnits)}  ${l.ticksPaid} ticks = ${showAmount(l.amountPaid, soldUnits)}  ${l.jobs} jobs  for ${age(nowMs - l.startedAt)}\n`,
        )
      }
    }
    io.stdout(past.length === 0 ? 'no past leases\n' : `last ${past.length} ended:\n`)
    for (const l of past) {
      const sold = l.role === 'provider'
      // Renter entries logged before the field was named providerPeer say `provider`.
      const who = String(sold ? l.renter : (l.providerPeer ?? l.provider)).slice(-10)
      const ticks = sold ? l.ticksPaid : l.ticksSent
      // Renters pay in the native coin; a lease sold was paid in the token the daemon sells in (native unless told).
      const units = sold ? pastSoldUnits : NATIVE_UNITS
      const price = /^\d+$/.test(String(l.pricePerSecond)) ? showRate(String(l.pricePerSecond), units) : '?/s'
      const paid = /^\d+$/.test(String(l.amountPaid)) ? showAmount(String(l.amountPaid), units) : '?'
      io.stdout(
        `  ${l.leaseId.slice(0, 18)}  ${sold ? 'sold to  ' : 'rented at'} ${who}  ${price}  ${String(ticks)} ticks = ${paid}  ${String(l.endReason ?? '')}  ${age(nowMs - l.endedAt)} ago\n`,
      )
    }
    if (earnings != null) io.stdout(`selling:\n${earningsLines(earnings, soldUnits).join('\n')}\n`)
    return 0
  },
}
