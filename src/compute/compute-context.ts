import type { AdmissionPolicy } from './admission.js'
import type { ModelStore } from './model-store.js'
import type { WorkerPool } from './worker-pool.js'

/** What the compute service shares with the protocol handlers it composes. */
export interface ComputeContext {
  readonly store: ModelStore
  readonly pool: WorkerPool
  /** Every job and transfer is admitted by it first. */
  readonly admit: AdmissionPolicy
  /** False once the service is stopping: new work is answered SHUTTING_DOWN. */
  readonly running: boolean
  /** Aborts with ShuttingDownError when the service stops; open streams stop reading. */
  readonly stopping: AbortSignal
}
