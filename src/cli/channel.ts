import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Address, getAddress, type Hex, isAddress, isHex, zeroAddress } from 'viem'
import { ChannelBook } from '../client/channel-book.js'
import { RENTER_STORE_DIR } from '../client/client.js'
import { controlRequest, DaemonNotRunningError } from '../daemon/control.js'
import { InvalidInputError } from '../errors.js'
import {
  ChannelNotOpenError,
  type ChannelState,
  getChannel,
  listChannels,
  providerNodeId,
  requestClose,
  type SettleReport,
  topUpChannel,
  verifyPaymentContract,
  withdrawChannel,
} from '../pay/index.js'
import { CHAIN_OPTIONS, type ChainContext, chainContext, openProviderSide, openRenterSide } from './channel-common.js'
import { bigintFlag, type Command, type ParsedArgs, stringFlag, toJson } from './command.js'
import { DATA_DIR_OPTION, JSON_OPTION } from './common-options.js'

const COMMON = { ...DATA_DIR_OPTION, ...CHAIN_OPTIONS, ...JSON_OPTION }
const CHANNEL_OPTION = {
  channel: { type: 'string' as const, valueName: 'ID', description: 'Channel id (default: your only eligible one)' },
}

function out(io: { stdout: (t: string) => void }, args: ParsedArgs, json: unknown, text: string): void {
  io.stdout(args.values.json === true ? `${toJson(json)}\n` : `${text}\n`)
}

function channelFlag(args: ParsedArgs): Hex | undefined {
  const id = stringFlag(args, 'channel')
  if (id == null) return undefined
  if (!isHex(id) || id.length !== 66) throw new InvalidInputError(`--channel ${id} is not a 32-byte hex id`)
  return id
}

interface ChannelRow extends Partial<ChannelState> {
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

async function channelRows(ctx: ChainContext, signal: AbortSignal): Promise<ChannelRow[]> {
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

/** `--channel`, or the caller's only channel matching `want`. */
async function pickChannel(
  args: ParsedArgs,
  ctx: ChainContext,
  signal: AbortSignal,
  want: (row: ChannelRow) => boolean,
  what: string,
): Promise<Hex> {
  const id = channelFlag(args)
  if (id != null) return id
  const rows = (await channelRows(ctx, signal)).filter(want)
  if (rows.length !== 1) {
    throw new InvalidInputError(`You have ${rows.length} channels ${what}: pass --channel ID`)
  }
  return rows[0]!.channelId
}

const openCommand: Command = {
  name: 'open',
  summary: 'Open a payment channel to a provider, funded with ETH or an ERC-20.',
  usage: 'parkbench channel open --provider ADDR --peer PEER_ID --amount N [--token ADDR] [--json]',
  options: {
    ...COMMON,
    provider: { type: 'string', valueName: 'ADDR', description: "The provider's EVM (payout) address" },
    peer: {
      type: 'string',
      valueName: 'PEER_ID',
      description: "The provider node's peer id: the channel is bound to that node",
    },
    amount: { type: 'string', valueName: 'N', description: 'Deposit in base units (wei for ETH)' },
    token: {
      type: 'string',
      valueName: 'ADDR',
      description: 'ERC-20 token address, or "dev" for the dev chain\'s token (default: native ETH)',
    },
  },
  async run(args, io) {
    const provider = stringFlag(args, 'provider')
    const amount = bigintFlag(args, 'amount')
    if (provider == null || !isAddress(provider)) throw new InvalidInputError('--provider ADDR is required')
    const peer = stringFlag(args, 'peer')
    if (peer == null) throw new InvalidInputError('--peer PEER_ID (the provider node) is required')
    let peerBytes: Uint8Array
    try {
      peerBytes = peerIdFromString(peer).toMultihash().bytes
    } catch (err) {
      throw new InvalidInputError(`--peer ${peer} is not a peer id`, { cause: err })
    }
    if (amount == null || amount === 0n) throw new InvalidInputError('--amount N (base units, > 0) is required')
    const ctx = await chainContext(args, io.env)
    // Never deposit into a contract that is not parkbench's.
    const identity = await verifyPaymentContract(
      ctx.publicClient,
      { contract: ctx.chain.contract },
      { signal: io.signal },
    )
    const tokenFlag = stringFlag(args, 'token')
    let token: Address | undefined
    if (tokenFlag === 'dev') {
      if (ctx.chain.token == null) throw new InvalidInputError('The chain config names no dev token')
      token = ctx.chain.token
    } else if (tokenFlag != null) {
      if (!isAddress(tokenFlag)) throw new InvalidInputError(`--token ${tokenFlag} is not an address`)
      token = getAddress(tokenFlag)
    }
    // Recorded as pending before it is sent; `client.infer` and `parkbench infer` reuse it.
    const book = new ChannelBook(
      { wallet: ctx.wallet, publicClient: ctx.publicClient },
      { dataDir: ctx.dataDir, identity, token },
    )
    const result = await book.open(
      { payoutAddress: getAddress(provider), providerPeer: peer, providerNode: providerNodeId(peerBytes) },
      { deposit: amount, signal: io.signal },
    )
    out(
      io,
      args,
      { ...result, renter: ctx.account.address, provider: getAddress(provider), token: token ?? zeroAddress },
      `opened channel ${result.channelId}\n  deposit ${result.deposit} ${token == null ? 'wei' : `of token ${token}`}\n  tx ${result.transactionHash}`,
    )
    return 0
  },
}

const topUpCommand: Command = {
  name: 'top-up',
  summary: "Add to a channel's deposit (renter).",
  usage: 'parkbench channel top-up --amount N [--channel ID] [--json]',
  options: {
    ...COMMON,
    ...CHANNEL_OPTION,
    amount: { type: 'string', valueName: 'N', description: 'Amount in base units' },
  },
  async run(args, io) {
    const amount = bigintFlag(args, 'amount')
    if (amount == null || amount === 0n) throw new InvalidInputError('--amount N (> 0) is required')
    const ctx = await chainContext(args, io.env)
    const channelId = await pickChannel(
      args,
      ctx,
      io.signal,
      (r) => r.role === 'renter' && r.status === 'open',
      'open as renter',
    )
    const result = await topUpChannel(
      ctx.wallet,
      { contract: ctx.chain.contract, channelId, amount },
      { signal: io.signal },
    )
    out(io, args, { channelId, ...result }, `topped up ${channelId}: deposit now ${result.deposit}`)
    return 0
  },
}

/**
 * What this data dir's payment records say: the renter's paid total (the renter store), the provider's best
 * accepted total (from the running daemon, or its store when none runs).
 */
async function addLocalTotals(ctx: ChainContext, rows: ChannelRow[], signal: AbortSignal): Promise<string[]> {
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

function describeRow(r: ChannelRow): string {
  const lines = [`${r.channelId}  ${r.role}  ${r.status}`]
  if (r.status !== 'withdrawn') {
    lines.push(`  renter ${r.renter}  provider ${r.provider}`)
    lines.push(`  token ${r.token === zeroAddress ? 'ETH' : r.token}  deposit ${r.deposit}  settled ${r.settled}`)
    if (r.status === 'closing') lines.push(`  close deadline ${new Date(Number(r.closeDeadline) * 1000).toISOString()}`)
  }
  if (r.paidOffChain != null) lines.push(`  paid off-chain ${r.paidOffChain}`)
  if (r.acceptedOffChain != null) lines.push(`  accepted off-chain ${r.acceptedOffChain}`)
  if (r.gasSpent != null) {
    lines.push(
      `  settlement gas ${r.gasSpent} wei${r.net != null ? `, net ${r.net} wei` : ''}${r.writtenOff ? `, written off ${r.writtenOff}` : ''}`,
    )
  }
  return lines.join('\n')
}

const statusCommand: Command = {
  name: 'status',
  summary: 'List your channels (as renter and provider): deposit, settled, closing, and what was paid off-chain.',
  usage: 'parkbench channel status [--channel ID] [--json]',
  options: { ...COMMON, ...CHANNEL_OPTION },
  async run(args, io) {
    const ctx = await chainContext(args, io.env)
    const only = channelFlag(args)?.toLowerCase()
    const rows = (await channelRows(ctx, io.signal)).filter((r) => only == null || r.channelId.toLowerCase() === only)
    const notes = await addLocalTotals(ctx, rows, io.signal)
    const json = {
      account: ctx.account.address,
      chainId: ctx.chain.chainId,
      contract: ctx.chain.contract,
      channels: rows,
      ...(notes.length > 0 ? { notes } : {}),
    }
    const text = [
      `account ${ctx.account.address} on chain ${ctx.chain.chainId}, contract ${ctx.chain.contract}`,
      rows.length === 0 ? 'no channels' : rows.map(describeRow).join('\n'),
      ...notes,
    ].join('\n')
    out(io, args, json, text)
    return 0
  },
}

const settleCommand: Command = {
  name: 'settle',
  summary:
    "Settle your channels' best payment proofs (provider) on-chain now, each only if it pays for its gas (or --force).",
  usage: 'parkbench channel settle [--channel ID] [--force] [--json]',
  options: {
    ...COMMON,
    ...CHANNEL_OPTION,
    force: { type: 'boolean', description: 'Settle even where the gas costs more than the channel would pay' },
  },
  async run(args, io) {
    const ctx = await chainContext(args, io.env)
    const channelId = channelFlag(args)
    const force = args.values.force === true
    const print = (report: SettleReport, via: string): number => {
      const lines = [
        ...report.settled.map(
          (r) =>
            `settled ${r.channelId}: paid ${r.paid}, total ${r.total}, gas ${r.gasCost} wei (tx ${r.transactionHash})`,
        ),
        ...report.skipped.map(
          (k) =>
            `skipped ${k.channelId}: it would pay ${k.gain} for ${k.estimatedCost} wei of gas (${k.cause}); --force settles it`,
        ),
      ]
      out(io, args, { ...report, via }, lines.length === 0 ? 'nothing to settle' : lines.join('\n'))
      return 0
    }
    // A running daemon holds the payment store: ask it to settle.
    try {
      const reply = await controlRequest<SettleReport>(
        ctx.dataDir,
        'POST',
        '/v1/settle',
        { ...(channelId != null ? { channelId } : {}), force },
        { signal: io.signal },
      )
      return print(reply, 'daemon')
    } catch (err) {
      if (!(err instanceof DaemonNotRunningError)) throw err
    }
    const provider = await openProviderSide(ctx, io.signal)
    try {
      return print(await provider.settler.settleWithReport(channelId, { signal: io.signal, force }), 'store')
    } finally {
      await provider.stop()
    }
  },
}

const closeCommand: Command = {
  name: 'close',
  summary: 'Request close (renter): starts the challenge window, after which "withdraw" refunds the rest.',
  usage: 'parkbench channel close [--channel ID] [--json]',
  options: { ...COMMON, ...CHANNEL_OPTION },
  async run(args, io) {
    const ctx = await chainContext(args, io.env)
    const channelId = await pickChannel(
      args,
      ctx,
      io.signal,
      (r) => r.role === 'renter' && r.status === 'open',
      'open as renter',
    )
    const result = await requestClose(ctx.wallet, { contract: ctx.chain.contract, channelId }, { signal: io.signal })
    out(
      io,
      args,
      { channelId, ...result },
      `close requested for ${channelId}; withdraw after ${new Date(Number(result.deadline) * 1000).toISOString()}`,
    )
    return 0
  },
}

const withdrawCommand: Command = {
  name: 'withdraw',
  summary: 'After the challenge window: refund the unspent deposit to you (renter) and delete the channel.',
  usage: 'parkbench channel withdraw [--channel ID] [--json]',
  options: { ...COMMON, ...CHANNEL_OPTION },
  async run(args, io) {
    const ctx = await chainContext(args, io.env)
    const channelId = await pickChannel(
      args,
      ctx,
      io.signal,
      (r) => r.role === 'renter' && r.status === 'closing',
      'closing as renter',
    )
    const result = await withdrawChannel(ctx.wallet, { contract: ctx.chain.contract, channelId }, { signal: io.signal })
    out(io, args, { channelId, ...result }, `withdrew ${channelId}: refunded ${result.refund}`)
    return 0
  },
}

export const channelCommand: Command = {
  name: 'channel',
  summary: 'Open, inspect, settle and close payment channels.',
  usage: 'parkbench channel <open|status|top-up|settle|close|withdraw> [options]',
  subcommands: [openCommand, statusCommand, topUpCommand, settleCommand, closeCommand, withdrawCommand],
}
