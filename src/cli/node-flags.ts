import { spawn } from 'node:child_process'
import { constants } from 'node:os'

/**
 * Node flags a command needs that a running process cannot take (V8 sizes its heap at start-up, and
 * `v8.setFlagsFromString` after that does not resize it: measured).
 *
 * `parkbench swarm run` in-process holds hundreds of libp2p nodes in one heap, allocating fast (every message
 * decodes peer records, signals and events). With V8's default young generation (16 MiB semi-spaces) those short-lived
 * objects are promoted and only mark-compacts free them. Measured on this 2-core machine, the 100-node market on
 * the 8-region matrix, one process, same seed: CPU per node-second 13.4 -> 10.5 ms, event-loop p99 304 -> 76 ms,
 * lookups within 2 s 62% -> 97%, requests served 73 -> 128 of 177, with 64 MiB semi-spaces.
 */
export const SWARM_SEMI_SPACE_MB = 64

/** Set in the relaunched process: it runs the command itself, and stops when its parent is gone. */
const RELAUNCHED = 'PARKBENCH_RELAUNCHED'

/** The flags `argv` (the CLI's arguments) runs best with, or undefined when it needs none. */
export function nodeFlagsFor(argv: string[], env: NodeJS.ProcessEnv): string[] | undefined {
  if (argv[0] !== 'swarm' || argv[1] !== 'run') return undefined
  // Multi-process mode: this process only drives members, each a process of its own.
  const mode = argv.findIndex((a) => a === '--mode' || a.startsWith('--mode='))
  const modeValue = mode < 0 ? undefined : argv[mode]!.includes('=') ? argv[mode]!.split('=')[1] : argv[mode + 1]
  if (modeValue === 'multi-process') return undefined
  const mb =
    env.PARKBENCH_SWARM_SEMI_SPACE_MB === undefined ? SWARM_SEMI_SPACE_MB : Number(env.PARKBENCH_SWARM_SEMI_SPACE_MB)
  if (!Number.isInteger(mb) || mb <= 0) return undefined
  return [`--max-semi-space-size=${mb}`]
}

/** True when this process already runs with the flag (on its command line or in NODE_OPTIONS). */
function hasFlag(flag: string, execArgv: string[], env: NodeJS.ProcessEnv): boolean {
  const name = flag.split('=')[0]!
  return execArgv.some((a) => a.split('=')[0] === name) || (env.NODE_OPTIONS ?? '').includes(name)
}

/**
 * Run the CLI again in a child Node process with the flags `argv` needs, when this one lacks them; resolves to its
 * exit code, or undefined when this process should run the command itself (no flags needed, or already relaunched).
 *
 * The child has its own process group, so a terminal's Ctrl-C reaches this process only, which passes on one
 * SIGTERM per signal it gets (the command's own graceful stop, then its forced exit on a second). The child watches
 * an IPC channel to this process: if this one is killed (even with SIGKILL) the child stops as on SIGTERM.
 */
export async function relaunchWithNodeFlags(argv: string[]): Promise<number | undefined> {
  if (process.env[RELAUNCHED] === '1') {
    delete process.env[RELAUNCHED]
    // The parent is gone when its channel closes: stop as on SIGTERM, so the run still cleans up.
    process.channel?.unref()
    process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'))
    return undefined
  }
  const flags = nodeFlagsFor(argv, process.env)?.filter((f) => !hasFlag(f, process.execArgv, process.env))
  const script = process.argv[1]
  if (flags === undefined || flags.length === 0 || script === undefined) return undefined
  const child = spawn(process.execPath, [...process.execArgv, ...flags, script, ...argv], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [RELAUNCHED]: '1' },
    detached: true,
  })
  const forward = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
  }
  process.on('SIGINT', forward)
  process.on('SIGTERM', forward)
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', reject)
      child.once('exit', (code, signal) => {
        const number = signal === null ? undefined : constants.signals[signal]
        resolve(code ?? (number === undefined ? 1 : 128 + number))
      })
    })
  } finally {
    process.off('SIGINT', forward)
    process.off('SIGTERM', forward)
  }
}
