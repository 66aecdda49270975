import type { AbortOptions, PeerId } from '@libp2p/interface'
import { Status } from './pb/compute.js'

/** What a peer asks to do. */
export type AdmissionKind = 'infer' | 'model-push' | 'model-fetch'

export interface AdmissionRequest {
  peer: PeerId
  /** Lowercase hex sha256 of the model concerned. */
  modelSha256: string
  kind: AdmissionKind
  /** model-push: the announced model size. */
  sizeBytes?: number
}

/** How a job ended, reported to the admission context (the lease work meters on it). */
export interface JobOutcome {
  status: Status
  /** Time waiting for a worker. */
  queueMs: number
  /** Time in `session.run()`; 0 when the job never ran. */
  runMs: number
}

export interface Admitted {
  allowed: true
  /** Called once when the admitted job or transfer ends, whatever the outcome. */
  onJobDone?(outcome: JobOutcome): void
}

export interface Refused {
  allowed: false
  /** Usually NOT_AUTHORIZED; BUSY when the refusal is about load. */
  status: Status
  reason: string
}

/**
 * The one admission hook: every inference job and every model transfer asks it first. A lease-based policy
 * replaces the default by passing its own `admit` in the compute init.
 */
export type AdmissionPolicy = (request: AdmissionRequest, options?: AbortOptions) => Promise<Admitted | Refused>

/** Serve anyone: for a LAN, a demo or a test. */
export const freeModePolicy: AdmissionPolicy = async () => ({ allowed: true })

/** Serve nobody: the default until the node's config turns free mode on or a lease policy is plugged in. */
export const refuseAllPolicy: AdmissionPolicy = async () => ({
  allowed: false,
  status: Status.NOT_AUTHORIZED,
  reason: 'This provider serves only peers with an active lease (free mode is off)',
})
