import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { Tensor } from 'onnxruntime-node'
import { privateKeyToAccount } from 'viem/accounts'
import { type ClientProgressEvent, createClient, type RenterClient } from '../../src/client/index.js'
import { resolveConfig } from '../../src/daemon/config.js'
import { createDaemon, type Daemon, type DaemonEvent } from '../../src/daemon/daemon.js'
import type { DevChain } from '../../src/pay/dev-chain.js'
import { addModel } from '../compute/onnx-builder.js'

/** 1 gwei per second: at this price a settlement costs more gas than a few seconds bring, so tests settle with force. */
export const PRICE = 1_000_000_000n

/** The add model (y = a + b) every console test runs. */
export const MODEL = addModel()

export const inputs = () => ({
  a: new Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]),
  b: new Tensor('float32', Float32Array.from([1, 1, 1, 1, 1, 1]), [2, 3]),
})

export interface ConsoleDaemon {
  daemon: Daemon
  dataDir: string
  /** The console's token, as `parkbench console` prints it. */
  token: string
  /** `http://127.0.0.1:PORT/` */
  url: string
  /** The provider's first address, with /p2p/. */
  address: ReturnType<typeof multiaddr>
  modelSha256: string
  events: DaemonEvent[]
}

/** A real daemon on the dev chain with its owner console on a free loopback port, holding the add model. */
export async function startConsoleDaemon(
  chain: DevChain,
  init: { accountIndex?: number; threads?: number } = {},
): Promise<ConsoleDaemon> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pb-console-'))
  const events: DaemonEvent[] = []
  const daemon = createDaemon({
    config: resolveConfig(dataDir, {
      listen: ['/ip4/127.0.0.1/tcp/0'],
      offer: { pricePerSecond: String(PRICE), threads: init.threads ?? 2, maxLeaseSeconds: 60 },
    }),
    chain,
    account: privateKeyToAccount(chain.accounts[init.accountIndex ?? 2]!.privateKey),
    console: { port: 0 },
    modelRescanMs: 0,
    onEvent: (e) => events.push(e),
  })
  await daemon.start()
  const record = await daemon.compute.store.add(MODEL, { name: 'add.onnx' })
  await daemon.syncModels()
  const token = (await readFile(join(dataDir, 'console.token'), 'utf8')).trim()
  return {
    daemon,
    dataDir,
    token,
    url: daemon.console!.url!,
    address: daemon.node.getMultiaddrs()[0]!,
    modelSha256: record.sha256,
    events,
  }
}

/** A renter on the SDK, its own data dir and account; it leases only the provider it is pointed at. */
export async function startRenterClient(
  chain: DevChain,
  accountIndex: number,
  onEvent?: (event: ClientProgressEvent) => void,
): Promise<RenterClient> {
  return createClient({
    ...(onEvent !== undefined ? { onEvent } : {}),
    dataDir: await mkdtemp(join(tmpdir(), 'pb-console-renter-')),
    chain,
    account: privateKeyToAccount(chain.accounts[accountIndex]!.privateKey),
    leaseSeconds: 30,
    idleMs: 60_000,
  })
}

/** A request to the console from outside a browser: `token` in the Authorization header unless it is undefined. */
export async function consoleFetch(
  base: string,
  path: string,
  init: { token?: string | undefined; method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: any; text: string; contentType: string | null }> {
  const res = await fetch(new URL(path, base), {
    method: init.method ?? 'GET',
    headers: {
      ...(init.token !== undefined ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...init.headers,
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    signal: AbortSignal.timeout(10_000),
  })
  const text = await res.text()
  let json: any
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, json, text, contentType: res.headers.get('content-type') }
}

/** Wait for `condition` to hold, polling, within a bounded deadline (never a bare sleep). */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

export { multiaddr }
