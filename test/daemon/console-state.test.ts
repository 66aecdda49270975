import assert from 'node:assert/strict'
import { mkdtemp, readFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  addressScope,
  type ConsoleSource,
  ConsoleState,
  earningsPerDay,
} from '../../src/daemon/console/console-state.js'
import type { DaemonStatus } from '../../src/daemon/daemon.js'
import type { SettlementRecord } from '../../src/pay/settlement-ledger.js'

/** A daemon as the console reads it, with the amounts a test sets: no node, no chain (the page tests have those). */
function fakeSource(money: { accepted: bigint; settled: bigint; gas: bigint }): ConsoleSource {
  const status = async () =>
    ({
      peerId: '12D3KooWtest',
      addresses: ['/ip4/127.0.0.1/tcp/1/p2p/12D3KooWtest'],
      selling: true,
      payoutAddress: undefined,
      offer: undefined,
      load: {
        uptimeMs: 0,
        rssBytes: 0,
        cpuUserMicros: 0,
        cpuSystemMicros: 0,
        eventLoop: { windowMs: 0, meanMs: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 },
        leases: { active: 0, threadsFree: 1 },
      },
      earnings: {
        tokens: [
          {
            token: '0x0',
            native: true,
            settled: money.settled,
            gasSpent: money.gas,
            net: money.settled - money.gas,
            writtenOff: 0n,
            settlements: 0,
          },
        ],
        unsettled: money.accepted - money.settled,
      },
      reach: { reachability: 'local', publicAddresses: [], relayedAddresses: [], relays: [] },
    }) satisfies DaemonStatus
  return {
    status,
    leaseList: () => [],
    terms: async () => ({
      pricePerSecond: 1n,
      tokenSymbol: 'ETH',
      threads: 1,
      memoryBytes: 1n,
      maxLeaseSeconds: 60,
      models: [],
    }),
    paused: () => undefined,
    channels: async () => ({
      channels: [
        {
          channelId: '0x01',
          acceptedOffChain: money.accepted,
          settledPaid: money.settled,
          gasSpent: money.gas,
          writtenOff: 0n,
        },
      ],
      pending: [],
    }),
    settlements: async () => [],
    jobCount: () => 0,
  }
}

describe('the console state', () => {
  it('classifies addresses by scope', () => {
    assert.equal(addressScope('/ip4/127.0.0.1/tcp/1'), 'loopback')
    assert.equal(addressScope('/ip4/192.168.1.20/tcp/4610'), 'private')
    assert.equal(addressScope('/ip4/10.1.2.3/tcp/1'), 'private')
    assert.equal(addressScope('/ip4/172.20.0.1/tcp/1'), 'private')
    assert.equal(addressScope('/ip4/100.64.0.1/tcp/1'), 'private')
    assert.equal(addressScope('/ip4/172.32.0.1/tcp/1'), 'public')
    assert.equal(addressScope('/ip4/203.0.113.9/tcp/1'), 'public')
    assert.equal(addressScope('/ip6/::1/tcp/1'), 'loopback')
    assert.equal(addressScope('/ip6/fd00::1/tcp/1'), 'private')
    assert.equal(addressScope('/ip6/2001:db8::1/tcp/1'), 'public')
    assert.equal(addressScope('/ip4/203.0.113.9/tcp/1/p2p/QmRelay/p2p-circuit'), 'relayed')
  })

  it('sums settlements per UTC day, newest day first', () => {
    const record = (day: string, paid: bigint, gasCost: bigint) =>
      ({ settledAt: Date.parse(`${day}T12:00:00Z`), paid, gasCost }) as SettlementRecord
    assert.deepEqual(
      earningsPerDay([record('2026-11-30', 10n, 1n), record('2026-12-01', 5n, 2n), record('2026-12-01', 7n, 3n)]),
      [
        { day: '2026-12-01', settled: 12n, gas: 5n, net: 7n, settlements: 2 },
        { day: '2026-11-30', settled: 10n, gas: 1n, net: 9n, settlements: 1 },
      ],
    )
  })

  it('keeps the earnings chart in the data dir (0600): a restarted console draws what came before', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'pb-earnings-')), 'earnings.jsonl')
    const money = { accepted: 0n, settled: 0n, gas: 0n }
    const first = new ConsoleState(fakeSource(money), { logFile: file, logEveryMs: 0 })
    await first.load()
    for (const step of [1n, 2n, 3n]) {
      money.accepted = step * 1000n
      await first.sample()
    }
    money.settled = 3000n
    money.gas = 50n
    await first.sample()
    // Flat from here: the chart keeps the stretch's ends, the log adds nothing.
    await first.sample()
    await first.sample()
    await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal((await stat(file)).mode & 0o777, 0o600)
    const lines = (await readFile(file, 'utf8')).trim().split('\n')
    assert.equal(lines.length, 4)

    const restarted = new ConsoleState(fakeSource(money), { logFile: file })
    await restarted.load()
    const state = (await restarted.state()) as {
      earnings: { series: Array<{ gross: bigint; settled: bigint; gas: bigint }> }
    }
    const series = state.earnings.series
    assert.deepEqual(
      series.slice(0, 4).map((s) => [s.gross, s.settled, s.gas]),
      [
        [1000n, 0n, 0n],
        [2000n, 0n, 0n],
        [3000n, 0n, 0n],
        [3000n, 3000n, 50n],
      ],
    )
  })
})
