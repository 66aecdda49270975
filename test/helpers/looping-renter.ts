import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { runCli } from './cli.js'
import type { NatMarket, NatMarketProvider } from './nat-market.js'

const SCRIPT = fileURLToPath(new URL('./looping-renter-process.js', import.meta.url))

export interface LoopingRenterLine {
  result?: {
    provider: string
    leaseId: string
    via?: string
    connections?: Array<{ addr: string; relayed: boolean; protocols: string[] }>
  }
  error?: { name: string; message: string }
  summary?: {
    leases: Array<{
      leaseId: string
      providerPeer: string
      channelId: string
      amountPaid: string
      pricePerSecond: string
    }>
    channels: Record<string, string>
  }
}

export interface LoopingRenter {
  child: ChildProcess
  lines: LoopingRenterLine[]
  /** The first line from index `from` on that `match` accepts (bounded: 60 s). */
  waitLine(match: (line: LoopingRenterLine) => boolean, from: number, what: string): Promise<LoopingRenterLine>
  /** Close its stdin: it ends its leases and prints its summary, which this returns. */
  finish(): Promise<NonNullable<LoopingRenterLine['summary']>>
}

/** `looping-renter-process.js` in a NAT lab host: `client.infer()` every `everyMs`, one JSON line per answer. */
export function startLoopingRenter(
  market: NatMarket,
  host: string,
  init: { dataDir: string; model: string; maxPricePerSecond: bigint; everyMs: number },
): LoopingRenter {
  const args = {
    dataDir: init.dataDir,
    bootstrap: market.relays.map((r) => r.addr),
    model: init.model,
    maxPricePerSecond: String(init.maxPricePerSecond),
    everyMs: init.everyMs,
  }
  const child = market.lab.spawn(host, [process.execPath, SCRIPT, JSON.stringify(args)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const lines: LoopingRenterLine[] = []
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d
  })
  let buffered = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buffered += d
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      lines.push(JSON.parse(buffered.slice(0, nl)))
      buffered = buffered.slice(nl + 1)
    }
  })
  const waitLine = async (match: (line: LoopingRenterLine) => boolean, from: number, what: string) => {
    for (let i = 0; i < 600; i++) {
      const found = lines.slice(from).find(match)
      if (found != null) return found
      if (child.exitCode != null) break
      await sleep(100)
    }
    assert.fail(`no ${what}; renter said ${JSON.stringify(lines.slice(-5))}; stderr ${stderr.slice(-2000)}`)
  }
  return {
    child,
    lines,
    waitLine,
    async finish() {
      child.stdin!.end()
      return (await waitLine((l) => l.summary != null, 0, 'summary')).summary!
    },
  }
}

/**
 * Money adds up for a looping renter's run. Per lease: what its provider acknowledged is at most what the renter
 * paid, and the renter paid at most one tick more (the one it pre-paid, in flight when a connection was cut). Once each
 * provider settles (`settle`): every channel's on-chain settled amount is exactly what its provider accepted, and what
 * the renter authorised on it exceeds that by at most one tick per lease of this run on that channel.
 */
export async function assertRenterMoney(
  market: NatMarket,
  renterHost: string,
  summary: NonNullable<LoopingRenterLine['summary']>,
  providers: NatMarketProvider[],
  settle: (provider: NatMarketProvider) => Promise<unknown>,
): Promise<void> {
  const slack = new Map<string, bigint>()
  const accepted = new Map<string, bigint>()
  for (const provider of providers) {
    const sold = JSON.parse((await runCli(['leases', '--json', '--data-dir', provider.dataDir])).stdout)
    for (const lease of summary.leases.filter((l) => l.providerPeer === provider.peer)) {
      const theirs = sold.past.find((l: { leaseId: string }) => l.leaseId === lease.leaseId)
      assert.ok(theirs != null, `provider has no record of ${lease.leaseId}`)
      const paid = BigInt(lease.amountPaid)
      const acknowledged = BigInt(theirs.amountPaid)
      const tick = BigInt(lease.pricePerSecond)
      assert.ok(
        acknowledged <= paid && paid <= acknowledged + tick,
        `${lease.leaseId}: paid ${paid}, acknowledged ${acknowledged}`,
      )
      slack.set(lease.channelId, (slack.get(lease.channelId) ?? 0n) + tick)
    }
    await settle(provider)
    const status = await market.cli(provider.host, ['channel', 'status', '--json', '--data-dir', provider.dataDir])
    for (const row of JSON.parse(status.stdout).channels) {
      if (row.role === 'provider') accepted.set(row.channelId, BigInt(row.acceptedOffChain))
    }
  }
  const dataDir = market.renterDirs[renterHost]!
  const status = await market.cli(renterHost, ['channel', 'status', '--json', '--data-dir', dataDir])
  for (const channel of JSON.parse(status.stdout).channels) {
    const settled = BigInt(channel.settled)
    const authorised = BigInt(summary.channels[channel.channelId]!)
    assert.equal(settled, accepted.get(channel.channelId), `${channel.channelId}: settled = what the provider accepted`)
    const bound = settled + (slack.get(channel.channelId) ?? 0n)
    assert.ok(
      authorised >= settled && authorised <= bound,
      `${channel.channelId}: authorised ${authorised}, settled ${settled}`,
    )
  }
}
