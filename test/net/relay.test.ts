import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { DEFAULT_RELAY_SERVER_LIMITS, type NodeInit } from '../../src/net/index.js'
import { createNatLab, type NatLab, natLabSupport } from '../helpers/netns.js'

// Circuit relay v2 through real NATs: a relay on the lab's internet, a provider behind a cone NAT that reserves a
// relayed address there, and renters behind a cone and a symmetric NAT that reach it only through the relay.

const SCRIPT = fileURLToPath(new URL('./relay-node-process.js', import.meta.url))
const RELAY_PORT = 4001
const PROVIDER_PORT = 4002
const START_TIMEOUT_MS = 15_000
const COMMAND_TIMEOUT_MS = 20_000

interface Line {
  event?: 'ready' | 'addrs' | 'connection'
  peerId?: string
  addrs?: string[]
  id?: number
  result?: any
  error?: { name: string; code?: string; message: string }
  open?: boolean
  peer?: string
  remoteAddr?: string
  limited?: boolean
  direction?: string
  limits?: { bytes?: string; seconds?: number }
}

interface LabNode {
  child: ChildProcess
  peerId: string
  lines: Line[]
  /** The first line (seen or to come) that matches, or a rejection after `timeoutMs`. */
  waitFor(match: (line: Line) => boolean, what: string, timeoutMs?: number): Promise<Line>
  /** Send a command, wait (bounded) for its answer. */
  command(cmd: string, args: Record<string, unknown>): Promise<Line>
}

async function startNode(lab: NatLab, host: string, init: Pick<NodeInit, 'listen' | 'bootstrap' | 'relay'>) {
  const child = lab.spawn(host, [process.execPath, SCRIPT, JSON.stringify(init)], { stdio: 'pipe' })
  const lines: Line[] = []
  const waiters = new Set<() => void>()
  let stderr = ''
  let buffered = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk
    for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
      lines.push(JSON.parse(buffered.slice(0, newline)) as Line)
      buffered = buffered.slice(newline + 1)
    }
    for (const wake of waiters) wake()
  })
  child.once('exit', () => {
    for (const wake of waiters) wake()
  })
  const waitFor = (match: (line: Line) => boolean, what: string, timeoutMs = START_TIMEOUT_MS): Promise<Line> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = lines.find(match)
        if (found != null) {
          done(() => resolve(found))
          return
        }
        if (child.exitCode != null || child.signalCode != null) {
          done(() =>
            reject(new Error(`${host} exited (${child.exitCode ?? child.signalCode}) before ${what}: ${stderr}`)),
          )
        }
      }
      const timer = setTimeout(
        () => done(() => reject(new Error(`${host}: no ${what} within ${timeoutMs} ms; stderr: ${stderr}`))),
        timeoutMs,
      )
      const done = (settle: () => void): void => {
        clearTimeout(timer)
        waiters.delete(check)
        settle()
      }
      waiters.add(check)
      check()
    })
  let nextId = 1
  const command = (cmd: string, args: Record<string, unknown>): Promise<Line> => {
    const id = nextId++
    child.stdin!.write(`${JSON.stringify({ id, cmd, ...args })}\n`)
    return waitFor((line) => line.id === id, `answer to ${cmd}`, COMMAND_TIMEOUT_MS)
  }
  const ready = await waitFor((line) => line.event === 'ready', 'ready line')
  return { child, peerId: ready.peerId!, lines, waitFor, command } satisfies LabNode
}

const isCircuit = (addr: string | undefined): boolean => addr?.includes('/p2p-circuit') === true

describe('circuit relay v2 through the NAT lab', async () => {
  const support = await natLabSupport()
  const skip = support.ok ? false : `NAT lab unsupported here: ${support.reason}`
  let lab: NatLab
  let relay: LabNode
  let provider: LabNode
  let relayedAddr: string

  before(async () => {
    if (!support.ok) return
    lab = await createNatLab({
      publicHosts: ['relay'],
      lans: [
        { name: 'a', nat: 'cone' },
        { name: 'b', nat: 'cone' },
        { name: 'c', nat: 'symmetric' },
      ],
    })
    relay = await startNode(lab, 'relay', {
      listen: [`/ip4/${lab.address('relay')}/tcp/${RELAY_PORT}`],
      relay: { server: true },
    })
    const relayAddr = `/ip4/${lab.address('relay')}/tcp/${RELAY_PORT}/p2p/${relay.peerId}`
    // `/p2p-circuit` alone: reserve on the first relay met, here the bootstrap peer.
    provider = await startNode(lab, 'a', {
      listen: [`/ip4/0.0.0.0/tcp/${PROVIDER_PORT}`, '/p2p-circuit'],
      bootstrap: [relayAddr],
      relay: { client: true },
    })
  })
  after(async () => {
    await lab?.close()
  })

  it('the provider behind a cone NAT gets a /p2p-circuit address through the relay', { skip }, async (t) => {
    const expected = `/ip4/${lab.address('relay')}/tcp/${RELAY_PORT}/p2p/${relay.peerId}/p2p-circuit/p2p/${provider.peerId}`
    const line = await provider.waitFor(
      (l) => l.addrs?.includes(expected) === true,
      `relayed address ${expected}`,
      START_TIMEOUT_MS,
    )
    relayedAddr = expected
    t.diagnostic(`provider addresses: ${line.addrs!.join(' ')}`)
  })

  it('a renter behind a cone NAT cannot dial the provider directly, but pings and echoes over the relay', {
    skip,
  }, async (t) => {
    assert.ok(relayedAddr != null, 'no relayed address')
    const renter = await startNode(lab, 'b', { listen: ['/ip4/0.0.0.0/tcp/0'], relay: { client: true } })
    for (const host of [lab.address('a'), lab.publicAddress('a')]) {
      const direct = await renter.command('dial', { addr: `/ip4/${host}/tcp/${PROVIDER_PORT}/p2p/${provider.peerId}` })
      assert.ok(direct.error != null, `direct dial to ${host} answered: ${JSON.stringify(direct.result)}`)
      t.diagnostic(`direct dial to ${host}: ${direct.error.name} ${direct.error.code ?? ''}`)
    }

    const ping = await renter.command('ping', { addr: relayedAddr })
    assert.equal(ping.error, undefined, JSON.stringify(ping.error))
    t.diagnostic(`ping over the relay: ${ping.result.rttMs} ms`)
    const echo = await renter.command('echo', { addr: relayedAddr, bytes: 8 * 1024 })
    assert.equal(echo.error, undefined, JSON.stringify(echo.error))
    assert.equal(echo.result.sent, 8 * 1024)
    assert.equal(echo.result.received, 8 * 1024)
    assert.equal(echo.result.match, true)
    assert.ok(isCircuit(echo.result.connection?.remoteAddr), JSON.stringify(echo.result.connection))
    assert.equal(echo.result.connection.limited, true)
    // The relay's limits reach the renter with the connection (data counted on both directions together).
    assert.ok(BigInt(echo.result.connection.limits.bytes) <= DEFAULT_RELAY_SERVER_LIMITS.bytes)
    assert.ok(BigInt(echo.result.connection.limits.bytes) > DEFAULT_RELAY_SERVER_LIMITS.bytes - 1_000_000n)
    t.diagnostic(
      `echo 8 KiB both ways over the relay: ${echo.result.ms} ms; limits ${JSON.stringify(echo.result.connection.limits)}`,
    )

    // DCUtR: the provider (inbound side of the relayed connection) would start a hole punch. Record what happened.
    const direct = await provider
      .waitFor(
        (l) => l.event === 'connection' && l.open === true && l.peer === renter.peerId && !isCircuit(l.remoteAddr),
        'direct connection from DCUtR',
        5_000,
      )
      .catch(() => undefined)
    const seen = await renter.command('connections', { peer: provider.peerId })
    t.diagnostic(
      direct != null
        ? `DCUtR upgraded the relayed connection: direct ${direct.remoteAddr}`
        : `no hole punch within 5 s (this lab's internet is private-numbered, 10.0.0.0/24, and a punch never dials a private address; punching is tested in test/daemon/nat-punch.test.ts); renter's connections to the provider: ${JSON.stringify(seen.result)}`,
    )
    renter.child.stdin!.end()
  })

  it('a renter behind a symmetric NAT reaches the provider over the relay too', { skip }, async (t) => {
    assert.ok(relayedAddr != null, 'no relayed address')
    const renter = await startNode(lab, 'c', { listen: ['/ip4/0.0.0.0/tcp/0'], relay: { client: true } })
    const ping = await renter.command('ping', { addr: relayedAddr })
    assert.equal(ping.error, undefined, JSON.stringify(ping.error))
    const echo = await renter.command('echo', { addr: relayedAddr, bytes: 8 * 1024 })
    assert.equal(echo.error, undefined, JSON.stringify(echo.error))
    assert.equal(echo.result.match, true)
    assert.equal(echo.result.received, 8 * 1024)
    assert.ok(isCircuit(echo.result.connection?.remoteAddr))
    t.diagnostic(`symmetric renter: ping ${ping.result.rttMs} ms, echo 8 KiB ${echo.result.ms} ms`)
    renter.child.stdin!.end()
  })
})
