import type { AbortOptions, PeerId } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { errorFromStatus, statusFromError } from './errors.js'
import { Status } from './pb/compute.js'

const log = logger('parkbench:compute')

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

/**
 * The one admission step of every compute exchange (an inference, a model push, a model fetch): ask the policy and
 * throw the typed error of its refusal, run `work`, then report how it ended to the admission context, once,
 * whatever the outcome. `work` fills in the outcome's timings; its status is OK when `work` resolves and the
 * status of its error when it throws.
 */
export async function runAdmitted<T>(
  admit: AdmissionPolicy,
  request: AdmissionRequest,
  options: AbortOptions,
  work: (outcome: JobOutcome) => Promise<T>,
): Promise<T> {
  const decision = await admit(request, options)
  if (!decision.allowed) throw errorFromStatus(decision.status, decision.reason)
  const outcome: JobOutcome = { status: Status.INTERNAL_ERROR, queueMs: 0, runMs: 0 }
  try {
    const result = await work(outcome)
    outcome.status = Status.OK
    return result
  } catch (err) {
    outcome.status = statusFromError(err)
    throw err
  } finally {
    try {
      decision.onJobDone?.(outcome)
    } catch (err) {
      log.error('onJobDone threw: %s', (err as Error).message)
    }
  }
}
