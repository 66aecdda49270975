import type { ResourceLimits } from 'node:worker_threads'
import type { NamedTensor } from './worker-messages.js'

/** The options, jobs and numbers of a {@link WorkerPool} (in worker-pool.ts). */
export interface WorkerPoolInit {
  /**
   * Worker processes, each running one job at a time. Default: one per two cores (at least 1), which with the default
   * intra-op threads fills the machine without oversubscribing it.
   */
  workers?: number
  /**
   * onnxruntime intra-op threads per session. Default: the cores divided among the workers (2 on most machines).
   * Measured on 2 cores: one worker with 2 threads halved ResNet-50 latency at concurrency 1 compared with two
   * single-thread workers, and matched them at concurrency 8 (bench-results/compute.json).
   */
  intraOpThreads?: number
  /** Jobs waiting for a worker at most; one more is refused with BusyError. Default 64. */
  maxQueue?: number
  /** Bytes of loaded sessions across all workers (split evenly between them). Default 1 GiB. */
  sessionMemoryBytes?: number
  /**
   * The most memory one job may take above its worker's when it starts running: inputs, intermediate tensors,
   * outputs. A job whose known sizes exceed it is refused before it runs, and one that grows past it while running
   * has its worker killed (TOO_LARGE; the worker is replaced). Each worker process is capped by the kernel at
   * 512 MiB + twice its share of `sessionMemoryBytes` + this (Linux). Default 1 GiB, or a quarter of the RAM
   * divided among the workers if less. See {@link MemoryBudget}.
   */
  jobMemoryBytes?: number
  /**
   * After a running job is aborted, how long its worker may keep running it before the pool kills it and starts a
   * fresh one (onnxruntime cannot interrupt a run; a worker process can be killed at any time). Default 2000 ms.
   */
  abortGraceMs?: number
  /** How long `stop()` waits for a worker to finish the run it is in before killing it. Default 10 s. */
  stopTimeoutMs?: number
  /**
   * V8 heap limits for each worker, as node's `resourceLimits` (applied as node flags; `codeRangeSizeMb` is not); a
   * worker over them dies and is replaced.
   */
  resourceLimits?: ResourceLimits
}

/** One inference job for the pool. Inputs must already be checked against the model's signature. */
export interface PoolJob {
  sha256: string
  /** The model file. */
  path: string
  sizeBytes: number
  inputs: NamedTensor[]
  /** Outputs wanted; empty for all. */
  outputNames: string[]
  /** Outputs larger than this in all fail the job (TOO_LARGE) inside the worker. Default: no limit. */
  maxOutputBytes?: number
}

export interface PoolResult {
  outputs: NamedTensor[]
  /** Time waiting for a worker. */
  queueMs: number
  /** Time in `session.run()`. */
  runMs: number
  /** Time loading the session, 0 when it was cached. */
  loadMs: number
}

export interface PoolStats {
  workers: number
  busy: number
  queued: number
  completed: number
  failed: number
  crashed: number
  refused: number
  /** Jobs failed for memory: an allocation refused by the worker's limit, or killed past the job budget. */
  outOfMemory: number
}
