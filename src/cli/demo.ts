import { formatAmount, NATIVE_UNITS } from '../pay/amounts.js'
import { type Command, integerFlag, stringFlag, toJson } from './command.js'
import { JSON_OPTION } from './common-options.js'
import { runDemo } from './run-demo.js'

export const demoCommand: Command = {
  name: 'demo',
  summary:
    'Run the whole market locally: a dev chain, three providers, a renter paying per second for PaddleOCR, a provider killed mid-lease, and on-chain settlement.',
  usage: 'parkbench demo [--data-dir DIR] [--seconds N] [--json]',
  options: {
    'data-dir': {
      type: 'string',
      valueName: 'DIR',
      description: "Where the demo keeps its nodes' data dirs (default: a new temp dir; never your own data dir)",
    },
    dir: { type: 'string', valueName: 'DIR', description: 'The same as --data-dir' },
    seconds: { type: 'string', valueName: 'N', description: 'Seconds of renting before the kill (default 6)' },
    ...JSON_OPTION,
  },
  async run(args, io) {
    const json = args.values.json === true
    const seconds = integerFlag(args, 'seconds')
    const dir = stringFlag(args, 'data-dir') ?? stringFlag(args, 'dir')
    const summary = await runDemo({
      ...(dir != null ? { dir } : {}),
      ...(seconds != null ? { secondsBeforeKill: seconds } : {}),
      onLog: (line) => {
        if (!json) io.stdout(`  ${line}\n`)
      },
    })
    if (json) {
      io.stdout(`${toJson(summary)}\n`)
      return summary.ok ? 0 : 1
    }
    const r = summary.renter
    io.stdout(`\nparkbench demo: ${r.inferences} inferences of ${summary.model.name}\n`)
    io.stdout(`renter ${r.address}: ${r.leases} leases, ${r.failovers} failover(s)\n\n`)
    // The summary keeps exact wei (--json); the table shows them as a person reads them, still exact.
    const eth = (wei: string): string => formatAmount(BigInt(wei), NATIVE_UNITS).padStart(18)
    io.stdout(
      `${'provider'.padEnd(12)} ${'price/s'.padStart(18)} ${'leases'.padStart(6)} ${'jobs'.padStart(6)} ${'s paid'.padStart(6)} ${'renter paid'.padStart(18)} ${'accepted'.padStart(18)} ${'on-chain +'.padStart(18)} ${'gas'.padStart(18)} ${'net'.padStart(18)}  match\n`,
    )
    for (const p of summary.providers) {
      io.stdout(
        `${(p.name + (p.killed ? '*' : '')).padEnd(12)} ${eth(p.pricePerSecond)} ${String(p.leases).padStart(6)} ${String(p.inferences).padStart(6)} ${String(p.secondsPaid).padStart(6)} ${eth(p.renterPaid)} ${eth(p.accepted)} ${eth(p.onChainDelta)} ${eth(p.gasSpent)} ${eth(p.net)}  ${p.matches ? 'yes' : 'NO'}\n`,
      )
    }
    io.stdout(
      `\n* killed with SIGKILL mid-lease; it settled from its durable store.\non-chain deltas ${summary.ok ? 'equal' : 'DO NOT equal'} the accepted payments (gas added back); net = accepted - settlement gas.\n`,
    )
    return summary.ok ? 0 : 1
  },
}
