import { join } from 'node:path'
import type { Hex } from 'viem'
import { zeroAddress } from 'viem'
import { RENTER_STORE_DIR } from '../client/client.js'
import { controlRequest, DaemonNotRunningError } from '../daemon/control.js'
import type { TokenUnits } from '../pay/amounts.js'
import { ChannelNotOpenError, type ChannelState, getChannel, listChannels } from '../pay/index.js'
import { showAmount, showGas } from './amounts.js'
import { type ChainContext, openProviderSide, openRenterSide } from './channel-common.js'

/** One channel as `parkbench channel status` lists it: on-chain state plus this data dir's payment records. */
export interface ChannelRow extends Partial<ChannelState> {
  channelId: Hex
  role: 'renter' | 'provider'
  status: 'open' | 'closing' | 'withdrawn'
  /** Renter: the cumulative total this node has authorised (local store). */
  paidOffChain?: bigint
  /** Provider: the best total this node has accepted (local store). */
  acceptedOffChain?: bigint
  /** Provider: wei spent on this channel's settlements, and what it gave up inside a close window. */
  gasSpent?: bigint
  writtenOff?: bigint
  /** Provider, native coin: settled on-chain minus gasSpent. */
  net?: bigint
}

export async function channelRows(ctx: ChainContext, signal: AbortSignal): Promise<ChannelRow[]> {
  const listed = await listChannels(
    ctx.publicClient,
    {
      contract: ctx.chain.contract,
      account: ctx.account.address,
      fromBlock: BigInt(ctx.chain.deployBlock ?? 0),
    },
    { signal },
  )
  const rows: ChannelRow[] = []
  for (const l of listed) {
    try {
      const state = await getChannel(
        ctx.publicClient,
        { contract: ctx.chain.contract, channelId: l.channelId },
        { signal },
      )
      rows.push({ ...state, role: l.role, status: state.closeRequestedAt === 0n ? 'open' : 'closing' })
    } catch (err) {
      if (!(err instanceof ChannelNotOpenError)) throw err
      rows.push({ ...l, status: 'withdrawn' })
    }
  }
  return rows
}

/**
 * What this data dir's payment records say: the renter's paid total (the renter store), the provider's best
 * accepted total (from the running daemon, or its store when none runs).
 */
export async function addLocalTotals(ctx: ChainContext, rows: ChannelRow[], signal: AbortSignal): Promise<string[]> {
  const notes: string[] = []
  if (rows.some((r) => r.role === 'renter')) {
    try {
      const renter = await openRenterSide(ctx, join(ctx.dataDir, RENTER_STORE_DIR), signal)
      try {
        for (const row of rows) if (row.role === 'renter') row.paidOffChain = renter.sender.channelTotal(row.channelId)
      } finally {
        await renter.stop()
      }
    } catch (err) {
      notes.push(`renter payment records unavailable: ${(err as Error).message}`)
    }
  }
  if (rows.some((r) => r.role === 'provider')) {
    const local = new Map<string, { accepted: bigint; gasSpent: bigint; writtenOff: bigint }>()
    try {
      const reply = await controlRequest<{
        channels: Array<{ channelId: Hex; acceptedOffChain: string; gasSpent: string; writtenOff: string }>
      }>(ctx.dataDir, 'GET', '/v1/channels', undefined, { signal })
      for (const c of reply.channels) {
        local.set(c.channelId.toLowerCase(), {
          accepted: BigInt(c.acceptedOffChain),
          gasSpent: BigInt(c.gasSpent),
          writtenOff: BigInt(c.writtenOff),
        })
      }
    } catch (err) {
      if (!(err instanceof DaemonNotRunningError)) throw err
      try {
        const provider = await openProviderSide(ctx, signal)
        try {
          const { receiver, settler } = provider
          const earned = new Map<string, { gasSpent: bigint; writtenOff: bigint }>()
          for (const t of (await settler.earnings()).tokens) {
            for (const c of t.channels) earned.set(c.channelId.toLowerCase(), c)
          }
          for (const id of receiver.channelIds()) {
            const e = earned.get(id.toLowerCase())
            local.set(id.toLowerCase(), {
              accepted: receiver.channelTotal(id),
              gasSpent: e?.gasSpent ?? 0n,
              writtenOff: e?.writtenOff ?? 0n,
            })
          }
        } finally {
          await provider.stop()
        }
      } catch (err) {
        notes.push(`provider payment records unavailable: ${(err as Error).message}`)
      }
    }
    for (const row of rows) {
      if (row.role !== 'provider') continue
      const l = local.get(row.channelId.toLowerCase())
      row.acceptedOffChain = l?.accepted ?? 0n
      row.gasSpent = l?.gasSpent ?? 0n
      row.writtenOff = l?.writtenOff ?? 0n
      // What the channel has paid this provider on-chain, less the gas its settlements cost (native coin).
      if (row.settled != null && row.token === zeroAddress) row.net = row.settled - row.gasSpent
    }
  }
  return notes
}

/** One channel for a person; amounts in the channel token's `units` (base units when they are unknown). */
export function describeRow(r: ChannelRow, units: TokenUnits | undefined): string {
  const amount = (v: bigint): string => showAmount(v, units)
  const lines = [`${r.channelId}  ${r.role}  ${r.status}`]
  if (r.status !== 'withdrawn') {
    lines.push(`  renter ${r.renter}  provider ${r.provider}`)
    const token = r.token === zeroAddress ? 'ETH' : `${units?.symbol ?? 'token'} ${r.token}`
    lines.push(`  token ${token}  deposit ${amount(r.deposit!)}  settled ${amount(r.settled!)}`)
    if (r.status === 'closing') lines.push(`  close deadline ${new Date(Number(r.closeDeadline) * 1000).toISOString()}`)
  }
  if (r.paidOffChain != null) lines.push(`  paid off-chain ${amount(r.paidOffChain)}`)
  if (r.acceptedOffChain != null) lines.push(`  accepted off-chain ${amount(r.acceptedOffChain)}`)
  if (r.gasSpent != null) {
    lines.push(
      `  settlement gas ${showGas(r.gasSpent)}${r.net != null ? `, net ${showGas(r.net)}` : ''}${r.writtenOff ? `, written off ${amount(r.writtenOff)}` : ''}`,
    )
  }
  return lines.join('\n')
}
