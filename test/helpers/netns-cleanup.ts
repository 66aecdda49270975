import { execFile, execFileSync, spawn } from 'node:child_process'

/**
 * Removal of NAT-lab namespaces however the test process ends: `close()`, a normal exit (a synchronous `exit`
 * handler), SIGKILL (a detached watchdog shell that outlives the parent), or an earlier run that left some behind
 * (a sweep of namespaces whose owning pid is gone). Namespace names are `<prefix>-<pid>-<counter>-<role>`, so the
 * owner can be read off the name.
 */

/** The shell that kills every process in each namespace (a process inside keeps it alive) and deletes it. */
export function removeNamespacesScript(namespaces: readonly string[]): string {
  const names = namespaces.map(shellQuote).join(' ')
  return `for ns in ${names}; do for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done; ip netns del "$ns" 2>/dev/null; done; true`
}

/** Remove the namespaces now, synchronously: usable from a `process.on('exit')` handler. */
export function removeNamespacesSync(namespaces: readonly string[]): void {
  if (namespaces.length === 0) return
  try {
    execFileSync('/bin/sh', ['-c', removeNamespacesScript(namespaces)], { stdio: 'ignore', timeout: 10_000 })
  } catch {
    // Best effort: the watchdog and the next lab's sweep try again.
  }
}

/** Remove the namespaces without blocking the event loop. */
export function removeNamespaces(namespaces: readonly string[]): Promise<void> {
  if (namespaces.length === 0) return Promise.resolve()
  return new Promise((resolve) => {
    execFile('/bin/sh', ['-c', removeNamespacesScript(namespaces)], { timeout: 10_000 }, () => resolve())
  })
}

/** A handle on the detached watchdog; `cancel()` when the lab closed normally. */
export interface NamespaceWatchdog {
  cancel(): void
}

/**
 * Start a detached shell that waits for this process to die, then removes the namespaces (the same idea as
 * `watchParent` in src/pay/dev-chain.ts: SIGKILL runs no exit handler).
 */
export function watchParentForNamespaces(namespaces: readonly string[]): NamespaceWatchdog {
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${removeNamespacesScript(namespaces)}`
  const watchdog = spawn('/bin/sh', ['-c', script], { stdio: 'ignore', detached: true })
  watchdog.on('error', () => {})
  watchdog.unref()
  return {
    cancel() {
      if (watchdog.pid == null || watchdog.exitCode != null) return
      try {
        // detached: the shell leads its own process group, so its `sleep` goes with it.
        process.kill(-watchdog.pid, 'SIGKILL')
      } catch {
        // Already gone.
      }
    },
  }
}

/** Names of all network namespaces (`ip netns list`), or none if `ip` fails. */
export function listNamespaces(): Promise<string[]> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'list'], { timeout: 10_000 }, (err, stdout) => {
      if (err != null) return resolve([])
      // Lines look like `name` or `name (id: 3)`.
      resolve(
        stdout
          .split('\n')
          .map((line) => line.trim().split(/\s+/)[0] ?? '')
          .filter((name) => name !== ''),
      )
    })
  })
}

/** Remove namespaces named `<prefix>-<pid>-...` whose pid no longer runs (left by a killed run). */
export async function sweepStaleNamespaces(prefix: string): Promise<string[]> {
  const owner = new RegExp(`^${escapeRegExp(prefix)}-(\\d+)-`)
  const stale = (await listNamespaces()).filter((name) => {
    const pid = Number(owner.exec(name)?.[1])
    return Number.isSafeInteger(pid) && pid > 0 && !isAlive(pid)
  })
  await removeNamespaces(stale)
  return stale
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it runs, as someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
