import type { ProviderPayments } from '../pay/payment-state.js'

/** What selling has earned, per token: gross settled, gas spent settling, net, and what is accepted but unsettled. */
export interface DaemonEarnings {
  tokens: Array<{
    /** The zero address for the native coin. */
    token: string
    native: boolean
    /** Paid by settlements (gross), in token units. */
    settled: bigint
    /** Gas spent on settlements, in wei. */
    gasSpent: bigint
    /** Native: settled - gasSpent. ERC-20: settled (gas is paid in the native coin: see gasSpent). */
    net: bigint
    /** Given up inside close windows because settling would cost more gas than it pays. */
    writtenOff: bigint
    settlements: number
  }>
  /** Accepted off-chain (durable, acknowledged) and not yet settled, over all channels, in token units. */
  unsettled: bigint
}

/** What selling has earned: the settler's history and write-offs, and what the receiver holds unsettled. */
export async function earningsOf(payments: Pick<ProviderPayments, 'settler' | 'receiver'>): Promise<DaemonEarnings> {
  const { tokens } = await payments.settler.earnings()
  const settledByChannel = new Map<string, bigint>()
  for (const t of tokens) for (const c of t.channels) settledByChannel.set(c.channelId.toLowerCase(), c.paid)
  let unsettled = 0n
  for (const id of payments.receiver.channelIds()) {
    const left = payments.receiver.channelTotal(id) - (settledByChannel.get(id.toLowerCase()) ?? 0n)
    if (left > 0n) unsettled += left
  }
  return {
    tokens: tokens.map((t) => ({
      token: t.token,
      native: t.native,
      settled: t.paid,
      gasSpent: t.gasSpent,
      net: t.net,
      writtenOff: t.writtenOff,
      settlements: t.settlements,
    })),
    unsettled,
  }
}

/** Every channel with an accepted proof: what was accepted, settled, spent on gas and written off; and pending. */
export async function channelReport(payments: Pick<ProviderPayments, 'settler' | 'receiver'>) {
  const { receiver, settler } = payments
  const earned = new Map<string, { paid: bigint; gasSpent: bigint; writtenOff: bigint }>()
  for (const t of (await settler.earnings()).tokens)
    for (const c of t.channels) earned.set(c.channelId.toLowerCase(), c)
  return {
    channels: receiver.channelIds().map((channelId) => {
      const e = earned.get(channelId.toLowerCase())
      return {
        channelId,
        acceptedOffChain: receiver.channelTotal(channelId),
        settledPaid: e?.paid ?? 0n,
        gasSpent: e?.gasSpent ?? 0n,
        writtenOff: e?.writtenOff ?? 0n,
      }
    }),
    pending: await settler.pending(),
  }
}
