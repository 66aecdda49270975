import { type ChildProcess, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repo root (tests run from dist/test/...). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
export const PARKBENCH_BIN = join(REPO_ROOT, 'bin', 'parkbench.js')

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
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
  /** Resolve with stdout once `pattern` appears in it. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
  /** SIGTERM (or `signal`) and wait for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Start a long-running `parkbench ARGS` (e.g. `start`) in a child process. */
export function startCli(args: string[], options: { env?: NodeJS.ProcessEnv } = {}): LongRunning {
  const child = spawn(process.execPath, [PARKBENCH_BIN, ...args], {
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
