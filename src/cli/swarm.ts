import { existsSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { InvalidInputError } from '../errors.js'
import {
  headlineRows,
  REPORT_HTML,
  readReport,
  readScenario,
  runSwarm,
  ScenarioError,
  type SwarmReport,
  writeReport,
} from '../swarm/index.js'
import { type Command, integerFlag, stringFlag, toJson } from './command.js'
import { JSON_OPTION } from './common-options.js'

/** The scenarios shipped in the package: `parkbench swarm run park` works from any folder. */
const SHIPPED_SCENARIOS = fileURLToPath(new URL('../../../scenarios/', import.meta.url))

/** A path to a scenario file, or the name of a shipped one (`smoke`, `park`, `hostile`). */
function scenarioPath(arg: string): string {
  if (existsSync(arg) || !/^[a-z0-9-]+$/.test(arg)) return arg
  const shipped = join(SHIPPED_SCENARIOS, `${arg}.json`)
  if (existsSync(shipped)) return shipped
  const names = readdirSync(SHIPPED_SCENARIOS)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
  throw new InvalidInputError(
    `No scenario file ${arg}, and no shipped scenario of that name (shipped: ${names.join(', ')})`,
  )
}

function printHeadline(report: SwarmReport, out: (text: string) => void): void {
  const rows = headlineRows(report)
  const width = Math.max(...rows.map((r) => r.label.length))
  for (const row of rows) out(`${row.label.padEnd(width)}  ${row.value}\n`)
  for (const inv of report.invariants) out(`${inv.ok ? 'ok    ' : 'BROKEN'}  ${inv.name}: ${inv.detail}\n`)
}

const runCommand: Command = {
  name: 'run',
  summary:
    'Run a scenario: real parkbench nodes in this process on a shaped network, one dev chain; writes report.json and report.html.',
  usage:
    'parkbench swarm run SCENARIO.json|NAME --out DIR [--mode in-process|multi-process] [--seed N] [--duration S] [--json]',
  maxPositionals: 1,
  options: {
    out: { type: 'string', valueName: 'DIR', description: "The run's folder (report and every node's data dir)" },
    seed: { type: 'string', valueName: 'N', description: "Override the scenario's seed (0 to 2^32 - 1)" },
    mode: {
      type: 'string',
      valueName: 'MODE',
      description:
        'in-process (default: every node in this process, for scale) or multi-process (a process per node over TCP, real SIGKILL)',
    },
    duration: { type: 'string', valueName: 'S', description: "Override the scenario's duration in seconds" },
    ...JSON_OPTION,
  },
  async run(args, io) {
    const arg = args.positionals[0]
    if (arg === undefined)
      throw new InvalidInputError('Which scenario? `parkbench swarm run scenarios/park.json --out runs/park-1`')
    const file = scenarioPath(arg)
    const out = stringFlag(args, 'out')
    if (out === undefined) throw new InvalidInputError("--out DIR is required: the report and the nodes' data go there")
    // A scenario that does not validate is bad input (exit 2), the message naming the field.
    const scenario = await readScenario(file).catch((err: unknown) => {
      throw err instanceof ScenarioError ? new InvalidInputError(`${file}: ${err.message}`, { cause: err }) : err
    })
    const seed = integerFlag(args, 'seed')
    if (seed !== undefined) {
      if (seed < 0 || seed > 2 ** 32 - 1) throw new InvalidInputError('--seed takes 0 to 2^32 - 1')
      scenario.seed = seed
    }
    const duration = integerFlag(args, 'duration')
    if (duration !== undefined) {
      if (duration < 1) throw new InvalidInputError('--duration takes whole seconds, at least 1')
      scenario.durationS = duration
      scenario.churn.rampS = Math.min(scenario.churn.rampS, duration)
    }
    const mode = stringFlag(args, 'mode') ?? 'in-process'
    if (mode !== 'in-process' && mode !== 'multi-process') {
      throw new InvalidInputError('--mode takes in-process or multi-process')
    }
    const json = args.values.json === true
    const report = await runSwarm(scenario, {
      outDir: resolve(out),
      mode,
      signal: io.signal,
      onProgress: (event) => {
        if (json) return
        if (event.type === 'swarm:scheduled')
          io.stderr(`swarm: ${event.nodes} nodes, ${event.events} scheduled events\n`)
        else if (event.type === 'swarm:tick') {
          io.stderr(
            `swarm: ${(event.tMs / 1000).toFixed(0)} s, ${event.online} online, ${event.activeLeases} leases, ${event.served} served, ${event.failed} failed\n`,
          )
        } else if (event.type === 'swarm:settling') io.stderr(`swarm: settling ${event.providers} providers on-chain\n`)
      },
    })
    if (json) io.stdout(`${toJson(report)}\n`)
    else {
      printHeadline(report, io.stdout)
      io.stdout(`report: ${resolve(out, REPORT_HTML)}\n`)
    }
    return report.ok ? 0 : 1
  },
}

const reportCommand: Command = {
  name: 'report',
  summary: "Print a run's headline and invariants again from its report.json (and re-render report.html).",
  usage: 'parkbench swarm report DIR [--json]',
  maxPositionals: 1,
  options: { ...JSON_OPTION },
  async run(args, io) {
    const dir = args.positionals[0]
    if (dir === undefined) throw new InvalidInputError('Which run? `parkbench swarm report runs/park-1`')
    const report = await readReport(dir)
    // The page is made anew from the record, so a newer parkbench renders an older run.
    await writeReport(dir, report)
    if (args.values.json === true) io.stdout(`${toJson(report)}\n`)
    else printHeadline(report, io.stdout)
    return report.ok ? 0 : 1
  },
}

export const swarmCommand: Command = {
  name: 'swarm',
  summary: 'The swarm lab: run a scenario of many nodes on a simulated network and report on the market.',
  usage: 'parkbench swarm run|report ...',
  subcommands: [runCommand, reportCommand],
}
