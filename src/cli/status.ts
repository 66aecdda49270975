import { controlRequest } from '../daemon/control.js'
import type { DaemonStatus } from '../daemon/daemon.js'
import { resolveDataDir } from '../daemon/data-dir.js'
import type { DaemonEarnings } from '../daemon/earnings.js'
import { NATIVE_UNITS, type TokenUnits } from '../pay/amounts.js'
import { showAmount, showGas, showRate } from './amounts.js'
import { type Command, stringFlag, toJson } from './command.js'
import { DATA_DIR_OPTION, JSON_OPTION } from './common-options.js'
import { reachLines } from './reach.js'

/** What selling earned, as `status` and `leases` print it. Amounts arrive as decimal strings from the control API. */
export function earningsLines(earnings: DaemonEarnings, sold?: TokenUnits): string[] {
  const lines = earnings.tokens.map((t) => {
    // An ERC-20 other than the one sold for now has no known decimals here: base units and its address.
    const units = t.native ? NATIVE_UNITS : sold != null && !sold.native ? sold : undefined
    const amount = (v: bigint | string): string => showAmount(v, units, units == null ? t.token : undefined)
    return `  earned ${amount(t.settled)} settled in ${t.settlements} settlements, gas ${showGas(t.gasSpent)}, net ${amount(t.net)}${BigInt(t.writtenOff) > 0n ? `, ${amount(t.writtenOff)} written off (worth less than its gas)` : ''}`
  })
  if (lines.length === 0) lines.push('  earned nothing settled yet')
  // Unsettled is summed over every channel; it is in the token sold (the daemon sells in one token at a time).
  lines.push(`  accepted, not yet settled: ${showAmount(earnings.unsettled, sold)}`)
  return lines
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'Ask the running daemon how it is: peer id, addresses, offer, leases, CPU and event-loop delay.',
  usage: 'parkbench status [--data-dir DIR] [--json]',
  options: { ...DATA_DIR_OPTION, ...JSON_OPTION },
  async run(args, io) {
    const dataDir = resolveDataDir(stringFlag(args, 'data-dir'), io.env)
    const status = await controlRequest<DaemonStatus>(dataDir, 'GET', '/v1/status', undefined, {
      signal: AbortSignal.any([io.signal, AbortSignal.timeout(10_000)]),
    })
    if (args.values.json === true) {
      io.stdout(`${toJson(status)}\n`)
      return 0
    }
    const { load } = status
    io.stdout(`parkbench node ${status.peerId}, up ${Math.round(load.uptimeMs / 1000)} s\n`)
    for (const addr of status.addresses.filter((a) => !a.includes('/p2p-circuit'))) {
      io.stdout(`  listening on ${addr}\n`)
    }
    if (status.reach != null) io.stdout(`${reachLines(status.reach).join('\n')}\n`)
    io.stdout(
      status.offer != null
        ? `  selling ${status.offer.threads} threads at ${showRate(status.offer.pricePerSecond, status.tokenUnits, status.offer.tokenSymbol)}, paid to ${status.payoutAddress}; ${status.offer.models.length} models\n`
        : status.paused != null
          ? `  paused by its ${status.paused.by}: ${status.paused.detail} (the offer is withdrawn)\n`
          : '  not selling\n',
    )
    io.stdout(`  leases: ${load.leases.active} active, ${load.leases.threadsFree} threads free\n`)
    if (status.earnings != null) io.stdout(`${earningsLines(status.earnings, status.tokenUnits).join('\n')}\n`)
    io.stdout(
      `  cpu ${((load.cpuUserMicros + load.cpuSystemMicros) / 1e6).toFixed(1)} s, rss ${(load.rssBytes / 2 ** 20).toFixed(0)} MiB, event-loop delay p50 ${load.eventLoop.p50Ms} ms p99 ${load.eventLoop.p99Ms} ms max ${load.eventLoop.maxMs} ms\n`,
    )
    return 0
  },
}
