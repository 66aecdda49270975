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
    io.stdout(
      `${'provider'.padEnd(12)} ${'price wei/s'.padStart(12)} ${'leases'.padStart(6)} ${'jobs'.padStart(6)} ${'s paid'.padStart(6)} ${'renter paid'.padStart(14)} ${'accepted'.padStart(14)} ${'on-chain +'.padStart(14)} ${'gas'.padStart(14)} ${'net'.padStart(14)}  match\n`,
    )
    for (const p of summary.providers) {
      io.stdout(
        `${(p.name + (p.killed ? '*' : '')).padEnd(12)} ${p.pricePerSecond.padStart(12)} ${String(p.leases).padStart(6)} ${String(p.inferences).padStart(6)} ${String(p.secondsPaid).padStart(6)} ${p.renterPaid.padStart(14)} ${p.accepted.padStart(14)} ${p.onChainDelta.padStart(14)} ${p.gasSpent.padStart(14)} ${p.net.padStart(14)}  ${p.matches ? 'yes' : 'NO'}\n`,
      )
    }
    io.stdout(
      `\n* killed with SIGKILL mid-lease; it settled from its durable store.\non-chain deltas ${summary.ok ? 'equal' : 'DO NOT equal'} the accepted payments (gas added back); net = accepted - settlement gas.\n`,
    )
    return summary.ok ? 0 : 1
  },
}
