import type { Hex } from 'viem'
import { InvalidInputError } from '../errors.js'
import type { LeaseInfo } from '../lease/metered-lease.js'
import type { ProviderPayments } from '../pay/payment-state.js'
import type { ControlRoute } from './control.js'
import { channelReport } from './earnings.js'
import { NoPaymentTermsError } from './errors.js'

/** What the control API reads from the daemon. */
export interface ControlRoutesSource {
  status(options: { resetLoad: boolean }): Promise<unknown>
  leaseList(): LeaseInfo[]
  payments(): Pick<ProviderPayments, 'settler' | 'receiver'> | undefined
  pause(): Promise<void>
  resume(): Promise<void>
  /** The owner console's URL with its token, when it runs. */
  consoleUrl(): string | undefined
}

/** The control API: what `parkbench status`, `leases`, `console` and `channel settle|status` ask a running daemon. */
export function controlRoutes(daemon: ControlRoutesSource): Record<string, ControlRoute> {
  return {
    'GET /v1/status': async ({ query }) => daemon.status({ resetLoad: query.get('reset') === '1' }),
    'GET /v1/leases': async () => ({ leases: daemon.leaseList() }),
    'GET /v1/console': async () => ({ url: daemon.consoleUrl() ?? null }),
    'GET /v1/channels': async () => {
      const payments = daemon.payments()
      return payments == null ? { channels: [], pending: [] } : channelReport(payments)
    },
    'POST /v1/pause': async () => {
      await daemon.pause()
      return { ok: true }
    },
    'POST /v1/resume': async () => {
      await daemon.resume()
      return { ok: true }
    },
    'POST /v1/settle': async ({ body }) => {
      const settler = daemon.payments()?.settler
      if (settler == null) throw new NoPaymentTermsError('This daemon is not selling: nothing to settle')
      const { channelId, force } = (body ?? {}) as { channelId?: unknown; force?: unknown }
      if (channelId != null && (typeof channelId !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(channelId))) {
        throw new InvalidInputError('channelId must be a 32-byte 0x-hex id')
      }
      if (force != null && typeof force !== 'boolean') throw new InvalidInputError('force must be true or false')
      return settler.settleWithReport(channelId as Hex | undefined, { force: force === true })
    },
  }
}
