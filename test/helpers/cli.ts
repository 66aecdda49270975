import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { main } from '../../src/cli/index.js'
import { saveChainConfig } from '../../src/pay/chain-config.js'
import { type DevChain, devChainConfig } from '../../src/pay/dev-chain.js'

/** The repo root (tests run from dist/test/...). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
export const PARKBENCH_BIN = join(REPO_ROOT, 'bin', 'parkbench.js')

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Run `parkbench ARGS` in this process (the CLI's `main`), capturing its output; the environment is PATH plus `env`,
 * and `tty` says whether stderr is a terminal (progress bars).
 */
export async function runMain(
  argv: string[],
  options: { env?: NodeJS.ProcessEnv; tty?: boolean } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await main(argv, {
    stdout: (t) => {
      stdout += t
    },
    stderr: (t) => {
      stderr += t
    },
    signal: new AbortController().signal,
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stderrIsTTY: options.tty === true,
  })
  return { code, stdout, stderr }
}

/** Run `parkbench ARGS` to completion in a child process. */
export async function runCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  const child = spawn(process.execPath, [PARKBENCH_BIN, ...args], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? 60_000,
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => {
    stdout += String(d)
  })
  child.stderr.on('data', (d) => {
    stderr += String(d)
  })
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
  return { code, stdout, stderr }
}

export interface LongRunning {
  child: ChildProcess
  /** Everything written to stdout so far. */
  output(): string
  /** Everything written to stderr so far. */
  errors(): string
  /** Resolve with stdout once `pattern` appears in it. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
  /** SIGTERM (or `signal`) and wait for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** How a helper starts a command: `node:child_process` spawn by default, a NAT lab host's `spawn` in the lab. */
export type Spawner = (argv: string[], options: SpawnOptions) => ChildProcess

const spawnHere: Spawner = (argv, options) => spawn(argv[0]!, argv.slice(1), options)

/** Start a long-running `parkbench ARGS` (e.g. `start`) in a child process. */
export function startCli(args: string[], options: { env?: NodeJS.ProcessEnv; spawn?: Spawner } = {}): LongRunning {
  const child = (options.spawn ?? spawnHere)([process.execPath, PARKBENCH_BIN, ...args], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => {
    stdout += String(d)
  })
  child.stderr!.on('data', (d) => {
    stderr += String(d)
  })
  const exited = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
  return {
    child,
    output: () => stdout,
    errors: () => stderr,
    async waitFor(pattern, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      while (Date.now() < deadline) {
        const match = stdout.match(pattern)
        if (match != null) return match
        if (child.exitCode != null) throw new Error(`process exited ${child.exitCode}: ${stderr}`)
        await new Promise((r) => setTimeout(r, 25))
      }
      throw new Error(`timed out waiting for ${pattern}; stdout: ${stdout}; stderr: ${stderr}`)
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode == null && child.signalCode == null) child.kill(signal)
      return exited
    },
  }
}

/** Save `chain` as a chain.json in `dir` (what `--chain FILE` takes); returns its path. */
export async function writeChainFile(chain: DevChain, dir: string): Promise<string> {
  const file = join(dir, 'chain.json')
  await saveChainConfig(file, devChainConfig(chain))
  return file
}

/**
 * A selling `parkbench start` in its own process on loopback, paid to `privateKey` on `chainFile`, holding
 * `modelFile` (added with `parkbench model add` first) if given. `flags` are passed on (e.g. --bootstrap).
 */
export async function startProviderCli(init: {
  dataDir: string
  chainFile: string
  privateKey: string
  price: bigint
  modelFile?: string
  flags?: string[]
  /** Node flags for the provider process (e.g. `--cpu-prof`). */
  nodeArgs?: string[]
}): Promise<{ provider: LongRunning; address: string; peerId: string }> {
  if (init.modelFile != null) {
    const added = await runCli(['model', 'add', init.modelFile, '--data-dir', init.dataDir])
    if (added.code !== 0) throw new Error(`model add failed: ${added.stderr}`)
  }
  const { nodeArgs } = init
  const provider = startCli(
    [
      'start',
      '--data-dir',
      init.dataDir,
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--price',
      String(init.price),
      '--chain',
      init.chainFile,
      '--private-key',
      init.privateKey,
      // Tests run many daemons at once: each console on a free port, never the default one.
      '--console-port',
      '0',
      ...(init.flags ?? []),
    ],
    nodeArgs === undefined || nodeArgs.length === 0
      ? {}
      : { spawn: (argv, options) => spawn(argv[0]!, [...nodeArgs, ...argv.slice(1)], options) },
  )
  const address = (await provider.waitFor(/listening on (\S+)/))[1]!
  const peerId = provider.output().match(/parkbench node (\S+)/)![1]!
  return { provider, address, peerId }
}
