import { totalmem } from 'node:os'
import { TooLargeError } from './errors.js'
import type { ModelRecord } from './model-record.js'
import { DTYPES, isTensorDtype, tensorBytes } from './tensor.js'
import type { NamedTensor } from './worker-messages.js'
import { residentBytes } from './worker-process.js'

/**
 * Room each worker process gets for itself whatever its jobs: node, V8 and onnxruntime's own data (measured: 110-190
 * MiB of data segment with onnxruntime loaded and two intra-op threads), with a margin.
 */
export const WORKER_BASE_BYTES = 512 * 1024 * 1024

/** The most one job may take by default (before the RAM share below). */
export const DEFAULT_JOB_MEMORY_BYTES = 1024 * 1024 * 1024

/**
 * Sessions are counted in the LRU at their model file's size; a loaded session holds about that (weights) and up
 * to as much again (pre-packed copies, optimised initialisers), so a worker's limit leaves twice its share.
 */
const SESSION_OVERHEAD = 2

/** How much memory the workers may use: resolved from `WorkerPoolInit`, reported by `WorkerPool.memory`. */
export interface MemoryBudget {
  /**
   * The most one job may take above its worker's memory when it starts running (inputs, intermediate tensors,
   * outputs): refused before it runs when its known sizes say so, its worker killed when it grows past it.
   */
  jobBytes: number
  /** The hard limit of one worker process (its data segment, enforced by the kernel where it can be). */
  workerBytes: number
  /** All workers together: the provider's budget for inference. */
  totalBytes: number
}

/**
 * The budget for `workers` worker processes: `jobBytes` defaults to 1 GiB, or a quarter of the machine's RAM
 * shared among the workers if that is less; each worker may hold {@link WORKER_BASE_BYTES}, twice its share of the
 * sessions and one job.
 */
export function memoryBudget(init: {
  workers: number
  sessionMemoryBytes: number
  jobMemoryBytes?: number
}): MemoryBudget {
  const jobBytes = Math.max(
    16 * 1024 * 1024,
    Math.floor(init.jobMemoryBytes ?? Math.min(DEFAULT_JOB_MEMORY_BYTES, totalmem() / (4 * init.workers))),
  )
  const workerBytes =
    WORKER_BASE_BYTES + SESSION_OVERHEAD * Math.floor(init.sessionMemoryBytes / init.workers) + jobBytes
  return { jobBytes, workerBytes, totalBytes: workerBytes * init.workers }
}

/** What is known, before a job runs, of the memory it needs. */
export interface JobEstimate {
  /** Bytes of the inputs. */
  inputBytes: number
  /** Bytes of the outputs whose shape the model fixes, or ties to an input's dims (symbolic names). */
  knownOutputBytes: number
  /** Outputs whose size only the run will tell (data-dependent shapes, strings). */
  unknownOutputs: string[]
}

/**
 * Estimate a job from the model's declared output shapes and the inputs' dims: a fixed dim counts as it is, a
 * symbolic one (`batch`) as the dim the inputs gave the same name, and an output with any other dim is unknown.
 */
export function estimateJob(record: ModelRecord, inputs: NamedTensor[], outputNames: string[]): JobEstimate {
  const symbols = new Map<string, number>()
  const specs = new Map(record.inputs.map((s) => [s.name, s]))
  for (const input of inputs) {
    specs.get(input.name)?.dims.forEach((dim, i) => {
      if (typeof dim === 'string' && input.dims[i] !== undefined) symbols.set(dim, input.dims[i]!)
    })
  }
  const wanted = outputNames.length > 0 ? new Set(outputNames) : undefined
  let knownOutputBytes = 0
  const unknownOutputs: string[] = []
  for (const spec of record.outputs) {
    if (wanted !== undefined && !wanted.has(spec.name)) continue
    const element = isTensorDtype(spec.dtype) ? DTYPES[spec.dtype].bytesPerElement : 0
    let count = spec.dims.length === 0 ? Number.NaN : 1
    for (const dim of spec.dims) {
      const size = typeof dim === 'number' ? dim : symbols.get(dim)
      count = size === undefined || size < 0 ? Number.NaN : count * size
    }
    if (element === 0 || Number.isNaN(count)) unknownOutputs.push(spec.name)
    else knownOutputBytes += count * element
  }
  return { inputBytes: inputs.reduce((sum, t) => sum + tensorBytes(t), 0), knownOutputBytes, unknownOutputs }
}

/**
 * Refuse, before it takes a worker, a job that cannot fit: outputs over the response limit, or inputs plus outputs
 * (counted twice: onnxruntime's tensor and the copy that leaves the worker) over the job's memory budget. Throws
 * {@link TooLargeError}.
 */
export function checkJobFits(estimate: JobEstimate, limits: { maxOutputBytes: number; jobBytes: number }): void {
  if (estimate.knownOutputBytes > limits.maxOutputBytes) {
    throw new TooLargeError(
      `The outputs would be ${estimate.knownOutputBytes} bytes; the response limit is ${limits.maxOutputBytes}`,
    )
  }
  const needed = estimate.inputBytes + 2 * estimate.knownOutputBytes
  if (needed > limits.jobBytes) {
    throw new TooLargeError(
      `The job needs at least ${needed} bytes of memory; the per-job budget is ${limits.jobBytes}`,
    )
  }
}

/** How often the memory of busy workers is sampled (Linux). */
export const MEMORY_SAMPLE_MS = 10

/**
 * Samples the resident memory of busy workers every {@link MEMORY_SAMPLE_MS} while any job runs (Linux, from
 * /proc): `check` is given, for each, a function that says why a worker is over its budget (the job's growth since
 * its run began over `jobBytes`, or the worker over `workerBytes`), or undefined. The kernel's limit stops an
 * allocation past the worker's limit at once; this catches a job that grows page by page past its own.
 */
export class MemoryWatch {
  private timer: ReturnType<typeof setInterval> | undefined

  constructor(
    private readonly budget: MemoryBudget,
    private readonly check: (
      why: (pid: number | undefined, jobBaseBytes: number | undefined) => string | undefined,
    ) => void,
  ) {}

  /** Start sampling while some worker is busy, stop when none is. */
  busy(any: boolean): void {
    if (any && this.timer === undefined && process.platform === 'linux') {
      this.timer = setInterval(() => this.check((pid, base) => this.over(pid, base)), MEMORY_SAMPLE_MS)
      this.timer.unref()
    } else if (!any && this.timer !== undefined) {
      clearInterval(this.timer)
      this.timer = undefined
    }
  }

  private over(pid: number | undefined, jobBaseBytes: number | undefined): string | undefined {
    const rss = residentBytes(pid)
    if (rss === undefined) return undefined
    const { jobBytes, workerBytes } = this.budget
    const jobUse = jobBaseBytes === undefined ? 0 : rss - jobBaseBytes
    if (jobUse > jobBytes) return `the job took ${jobUse >> 20} MiB, over its budget of ${jobBytes >> 20} MiB`
    if (rss > workerBytes) return `the worker holds ${rss >> 20} MiB, over its limit of ${workerBytes >> 20} MiB`
    return undefined
  }
}
