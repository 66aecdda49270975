import { existsSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { InvalidInputError } from '../errors.js'
import { readChainConfig } from '../pay/chain-config.js'
import { ReportMergeError } from '../swarm/errors.js'
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
import { parsePart, readPartPlan, SwarmPartError, scenarioSha256 } from '../swarm/part.js'
import { mergeReports } from '../swarm/report-merge.js'
import { type Command, integerFlag, type ParsedArgs, stringFlag, toJson } from './command.js'
import { JSON_OPTION } from './common-options.js'

/** The scenarios shipped in the package: `parkbench swarm run park` works from any folder. */
const SHIPPED_SCENARIOS = fileURLToPath(new URL('../../../scenarios/', import.meta.url))

/** A path to a scenario file, or the name of a shipped one (`smoke`, `park`, `hostile`, `split`). */
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
    'parkbench swarm run SCENARIO.json|NAME --out DIR [--mode in-process|multi-process] [--seed N] [--duration S] [--json]\n' +
    '       parkbench swarm run SCENARIO --out DIR --part 1/N [--host IP] [--port-base P] [--start-delay S] [--chain FILE]\n' +
    '       parkbench swarm run SCENARIO --out DIR --part K/N --join PART1_OUT/part.json [--host IP]',
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
    part: {
      type: 'string',
      valueName: 'K/N',
      description:
        "Run part K of N of the scenario (the nodes whose index is K-1 mod N), in either mode: a part's nodes listen on TCP so the other parts reach them",
    },
    join: {
      type: 'string',
      valueName: 'FILE',
      description: "Parts 2..N: part 1's part.json (its chain, bootstrap address, port base and start time)",
    },
    chain: {
      type: 'string',
      valueName: 'FILE',
      description: 'Part 1: pay on this dev chain (a chain.json, as `parkbench chain` writes) instead of starting one',
    },
    host: {
      type: 'string',
      valueName: 'IP',
      description: "The address this part's nodes listen on (default 127.0.0.1; this host's address across hosts)",
    },
    'port-base': {
      type: 'string',
      valueName: 'P',
      description: "Part 1: the run's first TCP port (bootstrap node; node i listens on P+1+i on every host)",
    },
    'start-delay': {
      type: 'string',
      valueName: 'S',
      description: 'Part 1: seconds from writing part.json to the schedule start (default 30)',
    },
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
    const partText = stringFlag(args, 'part')
    const mode = stringFlag(args, 'mode') ?? 'in-process'
    if (mode !== 'in-process' && mode !== 'multi-process') {
      throw new InvalidInputError('--mode takes in-process or multi-process')
    }
    const part = partText === undefined ? undefined : await partOptions(args, partText, scenario)
    const json = args.values.json === true
    const report = await runSwarm(scenario, {
      outDir: resolve(out),
      mode,
      signal: io.signal,
      ...(part !== undefined && { part }),
      onProgress: (event) => {
        // The other parts need part 1's plan: said even with --json (on stderr).
        if (event.type === 'swarm:plan') {
          io.stderr(
            `swarm: part plan ${event.file} (bootstrap ${event.plan.bootstrap[0]}, chain ${event.plan.chain.rpcUrl}, start ${event.plan.startAt})\n`,
          )
        }
        if (json) return
        if (event.type === 'swarm:waiting')
          io.stderr(`swarm: waiting for all ${event.parts} parts to reach ${event.phase}\n`)
        else if (event.type === 'swarm:scheduled')
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

/** --part and the flags that go with it, checked before anything starts (a bad one is exit 2). */
async function partOptions(
  args: ParsedArgs,
  text: string,
  scenario: Awaited<ReturnType<typeof readScenario>>,
): Promise<NonNullable<Parameters<typeof runSwarm>[1]['part']>> {
  const usage = (err: unknown): never => {
    throw err instanceof SwarmPartError ? new InvalidInputError(err.message, { cause: err }) : err
  }
  const part = await Promise.resolve()
    .then(() => parsePart(text))
    .catch(usage)
  const join = stringFlag(args, 'join')
  const chainFile = stringFlag(args, 'chain')
  const host = stringFlag(args, 'host')
  const portBase = integerFlag(args, 'port-base')
  const startDelay = integerFlag(args, 'start-delay')
  if (part.index > 1 && join === undefined) {
    throw new InvalidInputError(`--part ${text} needs --join FILE: the part.json part 1 wrote in its --out`)
  }
  if (part.index === 1 && join !== undefined) throw new InvalidInputError('--join is for parts 2..N; part 1 writes it')
  if (part.index > 1 && (chainFile !== undefined || portBase !== undefined || startDelay !== undefined)) {
    throw new InvalidInputError(
      "--chain, --port-base and --start-delay are part 1's; the other parts take them from --join",
    )
  }
  // The address goes into every node's multiaddr and the plan: the other parts dial it.
  if (host !== undefined && (!/^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host === '0.0.0.0')) {
    throw new InvalidInputError("--host takes this host's IPv4 address that the other parts reach (not 0.0.0.0)")
  }
  if (portBase !== undefined && (portBase < 1024 || portBase > 65_535)) {
    throw new InvalidInputError('--port-base takes a TCP port, 1024 to 65535')
  }
  if (startDelay !== undefined && startDelay < 0) throw new InvalidInputError('--start-delay takes seconds, >= 0')
  const expect = {
    scenario: scenario.name,
    seed: scenario.seed,
    count: part.count,
    scenarioSha256: scenarioSha256(scenario),
  }
  const plan = join === undefined ? undefined : await readPartPlan(join, expect).catch(usage)
  const chain = chainFile === undefined ? undefined : await readChainConfig(chainFile)
  if (chain !== undefined && chain.deployBlock === undefined) {
    throw new InvalidInputError(`${chainFile} has no deployBlock: the audit reads the channels' events from there`)
  }
  return {
    ...part,
    ...(plan !== undefined && { join: plan }),
    ...(chain !== undefined && { chain: { ...chain, deployBlock: chain.deployBlock! } }),
    ...(host !== undefined && { host }),
    ...(portBase !== undefined && { portBase }),
    ...(startDelay !== undefined && { startDelayMs: startDelay * 1000 }),
  }
}

const reportCommand: Command = {
  name: 'report',
  summary: "Print a run's headline and invariants again from its report.json (and re-render report.html).",
  usage: 'parkbench swarm report DIR [--json]\n       parkbench swarm report --merge PART_DIR... --out DIR [--json]',
  maxPositionals: 1000,
  options: {
    merge: {
      type: 'boolean',
      description: "Merge the parts of a split run (every part's --out folder) into one report, audited across parts",
    },
    out: { type: 'string', valueName: 'DIR', description: 'With --merge: where the merged report goes' },
    ...JSON_OPTION,
  },
  async run(args, io) {
    if (args.values.merge === true) {
      const out = stringFlag(args, 'out')
      if (out === undefined) throw new InvalidInputError('--merge needs --out DIR for the merged report')
      if (args.positionals.length < 2) throw new InvalidInputError('--merge takes the folders of at least two parts')
      const parts = await Promise.all(args.positionals.map((d) => readReport(d)))
      let report: SwarmReport
      try {
        report = mergeReports(parts)
      } catch (err) {
        // Folders that are not the parts of one run are bad input.
        throw err instanceof ReportMergeError ? new InvalidInputError(err.message, { cause: err }) : err
      }
      await writeReport(out, report)
      if (args.values.json === true) io.stdout(`${toJson(report)}\n`)
      else {
        printHeadline(report, io.stdout)
        io.stdout(`report: ${resolve(out, REPORT_HTML)}\n`)
      }
      return report.ok ? 0 : 1
    }
    if (args.positionals.length > 1) throw new InvalidInputError('One run folder (or --merge PART_DIR... --out DIR)')
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
