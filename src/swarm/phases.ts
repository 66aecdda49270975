import { performance } from 'node:perf_hooks'
import type { ClientProgressEvent } from '../client/events.js'

/**
 * Where a renter's time to its first paid result goes, in the order a request meets them:
 * - `discovery`: from `client.infer()` to the first offers found (`discovery:found`);
 * - `channel`: opening payment channels on-chain (`channel:opening` to `channel:opened`; 0 when one was reused);
 * - `modelPush`: pushing the model to a provider that lacks it (`model:pushing` to `model:pushed`);
 * - `job`: the last job sent (`job:started`) to its result: the transfer, the queue and the inference;
 * - `other`: the rest: lease negotiation, leases refused and failovers, waits.
 */
export const FIRST_PAID_PHASES = ['discovery', 'channel', 'modelPush', 'job', 'other'] as const
export type FirstPaidPhase = (typeof FIRST_PAID_PHASES)[number]
export type PhaseTimes = Record<FirstPaidPhase, number>

/** Times one request's phases from the client's progress events: pass `onProgress` to `client.infer()`. */
export interface PhaseClock {
  onProgress(event: ClientProgressEvent): void
  /** The request's result has come: each phase's ms, summing to the whole request. */
  done(): PhaseTimes
}

export function createPhaseClock(now: () => number = () => performance.now()): PhaseClock {
  const start = now()
  const spent = { discovery: 0, channel: 0, modelPush: 0 }
  let discovered = false
  let channelFrom: number | undefined
  let pushFrom: number | undefined
  let jobFrom: number | undefined
  return {
    onProgress(event) {
      const t = now()
      switch (event.type) {
        case 'discovery:found':
          if (!discovered) spent.discovery = t - start
          discovered = true
          break
        case 'channel:opening':
          channelFrom ??= t
          break
        case 'channel:opened':
          if (channelFrom !== undefined) spent.channel += t - channelFrom
          channelFrom = undefined
          break
        case 'model:pushing':
          pushFrom ??= t
          break
        case 'model:pushed':
          if (pushFrom !== undefined) spent.modelPush += t - pushFrom
          pushFrom = undefined
          break
        case 'job:started':
          jobFrom = t
          break
        default:
          break
      }
    },
    done() {
      const t = now()
      const job = jobFrom === undefined ? 0 : t - jobFrom
      const other = Math.max(0, t - start - spent.discovery - spent.channel - spent.modelPush - job)
      return { ...spent, job, other }
    },
  }
}
