import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { ResourceLimits } from 'node:worker_threads'
import { logger } from '@libp2p/logger'
import { InferenceFailedError, InvalidModelError, TooLargeError } from './errors.js'
import type { MemoryBudget } from './job-memory.js'
import { WORKER_DATA_FD } from './worker-channel.js'
import type { WorkerFailure, WorkerInit } from './worker-messages.js'

const log = logger('parkbench:compute:worker')

const WORKER_SCRIPT = fileURLToPath(new URL('./inference-worker.js', import.meta.url))

/** The environment variable a worker reads its {@link WorkerInit} from. */
export const WORKER_INIT_ENV = 'PARKBENCH_WORKER_INIT'

/**
 * Whether this platform enforces a process's data segment limit on every allocation (mmap included), and there
 * is a shell to set it with.
 */
const KERNEL_MEMORY_LIMIT = process.platform === 'linux' && existsSync('/bin/sh')

/** node's flags for the V8 limits a worker thread would have taken as `resourceLimits`. */
function v8Flags(limits: ResourceLimits | undefined): string[] {
  if (limits === undefined) return []
  const flags: string[] = []
  if (limits.maxOldGenerationSizeMb !== undefined) flags.push(`--max-old-space-size=${limits.maxOldGenerationSizeMb}`)
  if (limits.maxYoungGenerationSizeMb !== undefined) {
    // V8's young generation is three semi-spaces' worth.
    flags.push(`--max-semi-space-size=${Math.max(1, Math.floor(limits.maxYoungGenerationSizeMb / 3))}`)
  }
  if (limits.stackSizeMb !== undefined) flags.push(`--stack-size=${Math.floor(limits.stackSizeMb * 1024)}`)
  return flags
}

/**
 * Start one inference worker process. On Linux its data segment (every private writable mapping: the heap, every
 * malloc and mmap of onnxruntime, V8's heap) is capped at `memoryBytes` with `ulimit -d` before node starts, so an
 * allocation past it fails at once inside onnxruntime instead of taking the machine's memory. A process, not a
 * thread: a worker can be killed at any moment (a thread inside onnxruntime cannot be terminated without aborting
 * the whole provider: measured, `terminate called after throwing an instance of 'Napi::Error'`), and its memory goes
 * back to the system with it.
 */
export function spawnWorkerProcess(
  init: WorkerInit,
  options: { memoryBytes: number; resourceLimits?: ResourceLimits | undefined },
): ChildProcess {
  const extra = process.env.PARKBENCH_WORKER_NODE_FLAGS?.split(' ').filter((f) => f !== '') ?? []
  const node = [process.execPath, ...v8Flags(options.resourceLimits), ...extra, WORKER_SCRIPT]
  const spawnOptions = {
    // fd 3 is the IPC channel (control messages), fd 4 the data channel (worker-channel.ts).
    stdio: ['ignore', 'ignore', 'pipe', 'ipc', 'pipe'] as ['ignore', 'ignore', 'pipe', 'ipc', 'pipe'],
    serialization: 'advanced' as const,
    env: { ...process.env, [WORKER_INIT_ENV]: JSON.stringify(init) },
  }
  const child = KERNEL_MEMORY_LIMIT
    ? spawn(
        '/bin/sh',
        // If the limit cannot be set (a lower hard limit), the worker starts anyway, watched by the pool.
        [
          '-c',
          'ulimit -d "$1" 2>/dev/null; shift; exec "$@"',
          'parkbench-worker',
          String(Math.ceil(options.memoryBytes / 1024)),
          ...node,
        ],
        spawnOptions,
      )
    : spawn(node[0]!, node.slice(1), spawnOptions)
  // A worker's stderr (onnxruntime and V8 fatal errors) goes to the log, a line at a time.
  let pending = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (text: string) => {
    pending += text
    const lines = pending.split('\n')
    pending = lines.pop()!.slice(-4096)
    for (const line of lines) if (line.trim() !== '') log.error('worker %d: %s', child.pid, line)
  })
  return child
}

/** The data channel of a worker started by {@link spawnWorkerProcess}: its fd {@link WORKER_DATA_FD}. */
export function workerDataChannel(child: ChildProcess): Socket {
  const socket = child.stdio[WORKER_DATA_FD]
  if (!(socket instanceof Socket)) throw new Error('worker process has no data channel')
  return socket
}

/** Resident bytes of a process, read from /proc (Linux); undefined where that cannot be read. */
export function residentBytes(pid: number | undefined): number | undefined {
  if (pid === undefined || process.platform !== 'linux') return undefined
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match === null ? undefined : Number(match[1]) * 1024
  } catch {
    return undefined
  }
}

/** The error a job fails with when its worker reports `failure`. */
export function workerError(failure: WorkerFailure, message: string, memory: MemoryBudget): Error {
  switch (failure) {
    case 'INVALID_MODEL':
      return new InvalidModelError(message)
    case 'TOO_LARGE':
      return new TooLargeError(message)
    case 'OUT_OF_MEMORY':
      return new TooLargeError(
        `The job needed more memory than its worker may hold (${memory.workerBytes >> 20} MiB; ${memory.jobBytes >> 20} MiB per job): ${message}`,
      )
    default:
      return new InferenceFailedError(message)
  }
}
