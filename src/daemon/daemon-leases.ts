import type { PrivateKey } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { Address } from 'viem'
import { appendLeaseLog } from '../lease/lease-log.js'
import { createLeaseProvider, type LeaseProvider, type LeaseProviderComponents } from '../lease/lease-provider.js'
import type { LeaseInfo } from '../lease/metered-lease.js'
import type { ParkbenchNode } from '../net/create-node.js'
import type { ProviderPayments } from '../pay/payment-state.js'
import { providerNodeId } from '../pay/provider-node.js'
import type { DaemonConfig } from './config.js'
import type { DaemonMetrics } from './metrics.js'

const log = logger('parkbench:daemon')

/** Leases that end like this are settled at once. */
const BROKEN_LEASE_ENDS = new Set<string>(['RENTER_GONE', 'PAYMENT_LATE', 'PAYMENT_INVALID', 'PROTOCOL_ERROR'])

export interface DaemonLeasesComponents {
  node: ParkbenchNode
  privateKey: PrivateKey
  payments: Pick<ProviderPayments, 'receiver' | 'channels' | 'settler'>
  models: LeaseProviderComponents['models']
}

export interface DaemonLeasesInit {
  config: DaemonConfig
  payoutAddress: Address
  metrics?: DaemonMetrics | undefined
  /** Told about every lease that ends, after it is logged. */
  onLeaseEnded(info: LeaseInfo): void
}

/**
 * The daemon's lease provider: the config's terms, every ended lease appended to the lease log (and counted), and a
 * lease that ended badly settled at once.
 */
export function createDaemonLeases(components: DaemonLeasesComponents, init: DaemonLeasesInit): LeaseProvider {
  const { node, payments } = components
  const { config, metrics } = init
  return createLeaseProvider(
    {
      node,
      privateKey: components.privateKey,
      receiver: payments.receiver,
      channels: payments.channels,
      models: components.models,
    },
    {
      payoutAddress: init.payoutAddress,
      providerNode: providerNodeId(node.peerId.toMultihash().bytes),
      token: config.pay.token,
      pricePerSecond: config.offer.pricePerSecond,
      threads: config.offer.threads,
      maxLeaseSeconds: config.offer.maxLeaseSeconds,
      ...(metrics !== undefined ? { onEvent: metrics.onLeaseEvent } : {}),
      onLeaseEnded: (info) => {
        metrics?.leaseEnded(info)
        init.onLeaseEnded(info)
        appendLeaseLog(config.dataDir, { role: 'provider', ...info, endedAt: info.endedAt ?? Date.now() }).catch(
          (err: Error) => log.error('writing the lease log failed - %e', err),
        )
        // The renter vanished or stopped paying: settle what it paid now rather than wait for the threshold.
        if (BROKEN_LEASE_ENDS.has(info.endReason ?? '') && info.amountPaid > 0n) {
          payments.settler
            .settle(info.channelId, { reason: 'lease-broken' })
            .catch((err: Error) => log.error('settling %s after a broken lease failed - %e', info.channelId, err))
        }
      },
    },
  )
}
