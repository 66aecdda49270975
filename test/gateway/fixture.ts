import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { privateKeyToAccount } from 'viem/accounts'
import type { ClientProgressEvent } from '../../src/client/events.js'
import { resolveConfig } from '../../src/daemon/config.js'
import { createDaemon, type Daemon } from '../../src/daemon/daemon.js'
import type { GatewayInit } from '../../src/gateway/gateway.js'
import { type Gateway, type GatewayHttpServer, openGateway, startGatewayHttp } from '../../src/gateway/index.js'
import { findOffers } from '../../src/market/discover.js'
import { waitForDhtPeers } from '../../src/net/dht-ready.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'

/** A dev chain, one provider daemon in this process holding `models`, and a gateway renting from it over HTTP. */
export interface GatewayWorld {
  chain: DevChain
  dir: string
  provider: Daemon
  gateway: Gateway
  http: GatewayHttpServer
  /** The gateway's own close (client, leases, spend flushed). */
  closeGateway(): Promise<void>
  stop(): Promise<void>
}

export async function startGatewayWorld(init: {
  models: Record<string, Uint8Array>
  price?: bigint
  gateway?: GatewayInit
  maxBodyBytes?: number
  idleMs?: number
  /** Every event of the gateway's renter client. */
  onEvent?: (event: ClientProgressEvent) => void
  /** Extra provider, started before the gateway: e.g. a `parkbench start` process a test kills. */
  extraProvider?: (hub: string[], chain: DevChain, dir: string) => Promise<unknown>
  /** Offers to wait for before the gateway serves. Default 1. */
  offers?: number
}): Promise<GatewayWorld> {
  const chain = await startDevChain()
  const dir = await mkdtemp(join(tmpdir(), 'pb-gateway-'))
  const provider = createDaemon({
    config: resolveConfig(join(dir, 'provider'), {
      listen: ['/ip4/127.0.0.1/tcp/0'],
      offer: { pricePerSecond: String(init.price ?? 1000n), threads: 2, maxLeaseSeconds: 60 },
    }),
    chain,
    account: privateKeyToAccount(chain.accounts[2]!.privateKey),
  })
  await provider.start()
  const aliases: Record<string, string> = {}
  for (const [alias, bytes] of Object.entries(init.models)) {
    await provider.compute.store.add(bytes, { name: `${alias}.onnx` })
    aliases[alias] = join(dir, `${alias}.onnx`)
    await writeFile(aliases[alias]!, bytes)
  }
  await provider.syncModels()
  const hub = provider.node.getMultiaddrs().map((a) => a.toString())
  await init.extraProvider?.(hub, chain, dir)
  const opened = await openGateway({
    client: {
      dataDir: join(dir, 'renter'),
      chain,
      account: privateKeyToAccount(chain.accounts[1]!.privateKey),
      bootstrap: hub,
      leaseSeconds: 30,
      ...(init.idleMs != null ? { idleMs: init.idleMs } : {}),
      ...(init.onEvent != null ? { onEvent: init.onEvent } : {}),
    },
    models: aliases,
    ...init.gateway,
  })
  const client = opened.gateway.client
  await waitForDhtPeers(client.node, 1, { signal: AbortSignal.timeout(10_000) })
  const deadline = Date.now() + 20_000
  while (
    (await findOffers({ node: client.node }, { timeoutMs: 2_000 })).length < (init.offers ?? 1) &&
    Date.now() < deadline
  ) {
    await new Promise((r) => setTimeout(r, 100))
  }
  const http = await startGatewayHttp(opened.gateway, {
    port: 0,
    ...(init.maxBodyBytes != null ? { maxBodyBytes: init.maxBodyBytes } : {}),
  })
  let closed = false
  const closeGateway = async (): Promise<void> => {
    if (closed) return
    closed = true
    await http.stop()
    await opened.close()
  }
  return {
    chain,
    dir,
    provider,
    gateway: opened.gateway,
    http,
    closeGateway,
    async stop() {
      await closeGateway()
      await provider.stop()
      await chain.stop()
    },
  }
}

/** Wait for `check` to hold, polling, within a bounded deadline (never a timed assertion). */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** POST an OIP request: JSON, or JSON header plus binary section. */
export async function postInfer(
  url: string,
  model: string,
  body: { json: unknown; binary?: Uint8Array[] },
  key?: string,
): Promise<Response> {
  const header = Buffer.from(JSON.stringify(body.json))
  const headers: Record<string, string> = {}
  if (key != null) headers.authorization = `Bearer ${key}`
  let payload: Buffer = header
  if (body.binary != null) {
    payload = Buffer.concat([header, ...body.binary])
    headers['content-type'] = 'application/octet-stream'
    headers['inference-header-content-length'] = String(header.byteLength)
  } else headers['content-type'] = 'application/json'
  return fetch(`${url}/v2/models/${model}/infer`, { method: 'POST', headers, body: payload })
}

/** Split a binary OIP response into its JSON header and each output's bytes. */
export async function readBinaryResponse(res: Response): Promise<{ json: any; outputs: Record<string, Buffer> }> {
  const body = Buffer.from(await res.arrayBuffer())
  const headerLength = Number(res.headers.get('inference-header-content-length'))
  const json = JSON.parse(body.subarray(0, headerLength).toString('utf8'))
  const outputs: Record<string, Buffer> = {}
  let at = headerLength
  for (const o of json.outputs) {
    const size = o.parameters?.binary_data_size as number | undefined
    if (size == null) continue
    outputs[o.name] = body.subarray(at, at + size)
    at += size
  }
  return { json, outputs }
}

/** A response's JSON body, untyped (tests read fields they assert on). */
export async function jsonOf(res: Response): Promise<any> {
  return res.json()
}
