import { peerIdFromString } from '@libp2p/peer-id'
import { type Address, getAddress, type Hex, isAddress, isHex, zeroAddress } from 'viem'
import { ChannelBook } from '../client/channel-book.js'
import { controlRequest, DaemonNotRunningError } from '../daemon/control.js'
import { InvalidInputError } from '../errors.js'
import type { TokenUnits } from '../pay/amounts.js'
import {
  getChannel,
  getTokenUnits,
  providerNodeId,
  requestClose,
  type SettleReport,
  topUpChannel,
  verifyPaymentContract,
  withdrawChannel,
} from '../pay/index.js'
import { AMOUNT_HELP, amountFlag, showAmount, showGas, unitsOnChain } from './amounts.js'
import { CHAIN_OPTIONS, type ChainContext, chainContext, openProviderSide } from './channel-common.js'
import { addLocalTotals, type ChannelRow, channelRows, describeRow } from './channel-rows.js'
import { type Command, type ParsedArgs, stringFlag, toJson } from './command.js'
import { DATA_DIR_OPTION, JSON_OPTION } from './common-options.js'
import { createProgress } from './progress.js'

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
  usage: 'parkbench channel open --provider ADDR --peer PEER_ID --amount AMOUNT [--token ADDR] [--json]',
  options: {
    ...COMMON,
    provider: { type: 'string', valueName: 'ADDR', description: "The provider's EVM (payout) address" },
    peer: {
      type: 'string',
      valueName: 'PEER_ID',
      description: "The provider node's peer id: the channel is bound to that node",
    },
    amount: { type: 'string', valueName: 'AMOUNT', description: `Deposit (${AMOUNT_HELP})` },
    token: {
      type: 'string',
      valueName: 'ADDR',
      description: 'ERC-20 token address, or "dev" for the dev chain\'s token (default: native ETH)',
    },
  },
  async run(args, io) {
    const provider = stringFlag(args, 'provider')
    const amountText = stringFlag(args, 'amount')
    if (provider == null || !isAddress(provider)) throw new InvalidInputError('--provider ADDR is required')
    const peer = stringFlag(args, 'peer')
    if (peer == null) throw new InvalidInputError('--peer PEER_ID (the provider node) is required')
    let peerBytes: Uint8Array
    try {
      peerBytes = peerIdFromString(peer).toMultihash().bytes
    } catch (err) {
      throw new InvalidInputError(`--peer ${peer} is not a peer id`, { cause: err })
    }
    if (amountText == null) throw new InvalidInputError('--amount AMOUNT (e.g. 0.01ETH, > 0) is required')
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
    // The deposit is read in the channel token's own units (its decimals from the chain).
    const units = await getTokenUnits(ctx.publicClient, { token }, { signal: io.signal })
    const amount = amountFlag(args, 'amount', units)!
    if (amount === 0n) throw new InvalidInputError('--amount must be more than 0')
    // Recorded as pending before it is sent; `client.infer` and `parkbench infer` reuse it.
    const book = new ChannelBook(
      { wallet: ctx.wallet, publicClient: ctx.publicClient },
      { dataDir: ctx.dataDir, identity, token },
    )
    const progress = createProgress(io, { json: args.values.json === true })
    progress.spin(`opening a channel to ${getAddress(provider)} (deposit ${showAmount(amount, units)})`)
    const result = await book
      .open(
        { payoutAddress: getAddress(provider), providerPeer: peer, providerNode: providerNodeId(peerBytes) },
        { deposit: amount, signal: io.signal },
      )
      .finally(() => progress.done())
    out(
      io,
      args,
      { ...result, renter: ctx.account.address, provider: getAddress(provider), token: token ?? zeroAddress },
      `opened channel ${result.channelId}\n  deposit ${showAmount(result.deposit, units)}${token == null ? '' : ` (token ${token})`}\n  tx ${result.transactionHash}`,
    )
    return 0
  },
}

const topUpCommand: Command = {
  name: 'top-up',
  summary: "Add to a channel's deposit (renter).",
  usage: 'parkbench channel top-up --amount AMOUNT [--channel ID] [--json]',
  options: {
    ...COMMON,
    ...CHANNEL_OPTION,
    amount: { type: 'string', valueName: 'AMOUNT', description: `Amount to add (${AMOUNT_HELP})` },
  },
  async run(args, io) {
    const amountText = stringFlag(args, 'amount')
    if (amountText == null) throw new InvalidInputError('--amount AMOUNT (> 0) is required')
    const ctx = await chainContext(args, io.env)
    const channelId = await pickChannel(
      args,
      ctx,
      io.signal,
      (r) => r.role === 'renter' && r.status === 'open',
      'open as renter',
    )
    // In the channel's token: its units come from the chain.
    const { token } = await getChannel(
      ctx.publicClient,
      { contract: ctx.chain.contract, channelId },
      { signal: io.signal },
    )
    const units = await getTokenUnits(ctx.publicClient, { token }, { signal: io.signal })
    const amount = amountFlag(args, 'amount', units)!
    if (amount === 0n) throw new InvalidInputError('--amount must be more than 0')
    const progress = createProgress(io, { json: args.values.json === true })
    progress.spin(`adding ${showAmount(amount, units)} to ${channelId.slice(0, 10)}`)
    const result = await topUpChannel(
      ctx.wallet,
      { contract: ctx.chain.contract, channelId, amount },
      { signal: io.signal },
    ).finally(() => progress.done())
    out(io, args, { channelId, ...result }, `topped up ${channelId}: deposit now ${showAmount(result.deposit, units)}`)
    return 0
  },
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
    const unitsOf = unitsOnChain(ctx.publicClient, { signal: io.signal })
    const json = {
      account: ctx.account.address,
      chainId: ctx.chain.chainId,
      contract: ctx.chain.contract,
      channels: rows,
      ...(notes.length > 0 ? { notes } : {}),
    }
    const text = [
      `account ${ctx.account.address} on chain ${ctx.chain.chainId}, contract ${ctx.chain.contract}`,
      rows.length === 0
        ? 'no channels'
        : (await Promise.all(rows.map(async (r) => describeRow(r, await unitsOf(r.token))))).join('\n'),
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
    const unitsOf = unitsOnChain(ctx.publicClient, { signal: io.signal })
    const progress = createProgress(io, { json: args.values.json === true })
    const what = channelId == null ? 'your channels' : channelId.slice(0, 10)
    const print = async (report: SettleReport, via: string): Promise<number> => {
      progress.done()
      const lines: string[] = []
      for (const r of report.settled) {
        const units = await unitsOf(r.token)
        lines.push(
          `settled ${r.channelId}: paid ${showAmount(r.paid, units)}, total ${showAmount(r.total, units)}, gas ${showGas(r.gasCost)} (tx ${r.transactionHash})`,
        )
      }
      for (const k of report.skipped) {
        lines.push(
          `skipped ${k.channelId}: it would pay ${showAmount(k.gain, await unitsOf(k.token))} for ${showGas(k.estimatedCost)} of gas (${k.cause}); --force settles it`,
        )
      }
      out(io, args, { ...report, via }, lines.length === 0 ? 'nothing to settle' : lines.join('\n'))
      return 0
    }
    // A running daemon holds the payment store: ask it to settle.
    progress.spin(`settling ${what} (weighing each against its gas, then waiting for the transactions)`)
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
      if (!(err instanceof DaemonNotRunningError)) {
        progress.done()
        throw err
      }
    }
    const provider = await openProviderSide(ctx, io.signal).catch((err: unknown) => {
      progress.done()
      throw err
    })
    try {
      return print(await provider.settler.settleWithReport(channelId, { signal: io.signal, force }), 'store')
    } finally {
      progress.done()
      await provider.stop()
    }
  },
}

/**
 * A renter command on one of its channels: `--channel ID`, or its only channel in `status`, then one chain action
 * and a line saying what it did.
 */
function renterChannelCommand<R extends object>(spec: {
  name: string
  summary: string
  status: ChannelRow['status']
  act(ctx: ChainContext, channelId: Hex, signal: AbortSignal): Promise<R>
  describe(channelId: Hex, result: R, units: TokenUnits | undefined): string
}): Command {
  return {
    name: spec.name,
    summary: spec.summary,
    usage: `parkbench channel ${spec.name} [--channel ID] [--json]`,
    options: { ...COMMON, ...CHANNEL_OPTION },
    async run(args, io) {
      const ctx = await chainContext(args, io.env)
      const channelId = await pickChannel(
        args,
        ctx,
        io.signal,
        (r) => r.role === 'renter' && r.status === spec.status,
        `${spec.status} as renter`,
      )
      // Read before acting: a withdrawn channel is gone from the chain, and its refund is in its token.
      const { token } = await getChannel(
        ctx.publicClient,
        { contract: ctx.chain.contract, channelId },
        { signal: io.signal },
      )
      const units = await unitsOnChain(ctx.publicClient, { signal: io.signal })(token)
      const result = await spec.act(ctx, channelId, io.signal)
      out(io, args, { channelId, ...result }, spec.describe(channelId, result, units))
      return 0
    },
  }
}

const closeCommand = renterChannelCommand({
  name: 'close',
  summary: 'Request close (renter): starts the challenge window, after which "withdraw" refunds the rest.',
  status: 'open',
  act: (ctx, channelId, signal) => requestClose(ctx.wallet, { contract: ctx.chain.contract, channelId }, { signal }),
  describe: (channelId, result) =>
    `close requested for ${channelId}; withdraw after ${new Date(Number(result.deadline) * 1000).toISOString()}`,
})

const withdrawCommand = renterChannelCommand({
  name: 'withdraw',
  summary: 'After the challenge window: refund the unspent deposit to you (renter) and delete the channel.',
  status: 'closing',
  act: (ctx, channelId, signal) => withdrawChannel(ctx.wallet, { contract: ctx.chain.contract, channelId }, { signal }),
  describe: (channelId, result, units) => `withdrew ${channelId}: refunded ${showAmount(result.refund, units)}`,
})

export const channelCommand: Command = {
  name: 'channel',
  summary: 'Open, inspect, settle and close payment channels.',
  usage: 'parkbench channel <open|status|top-up|settle|close|withdraw> [options]',
  subcommands: [openCommand, statusCommand, topUpCommand, settleCommand, closeCommand, withdrawCommand],
}
