import type { SpawnOptions } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type LongRunning, PARKBENCH_BIN, runCli, startCli } from './cli.js'
import { createNatLab, type NatLab, type NatLabExecResult, type NatLanInit } from './netns.js'

/**
 * A parkbench market in a NAT lab: on the lab's (public-numbered) internet a dev chain (`parkbench chain`) and a
 * relay (`parkbench start --relay-server --no-sell`, also every node's bootstrap peer); selling `parkbench start`
 * daemons on public hosts or behind the LANs' NATs; renter LANs. Every data dir is funded on the chain, which saved
 * its chain.json in each.
 */
export interface NatMarketInit {
  /** Providers: which host (a public one, or a LAN's), price per second, more `parkbench start` arguments. */
  providers: Array<{ host: string; price: bigint; public?: boolean; args?: string[] }>
  /** The LANs (providers' and renters'). */
  lans: NatLanInit[]
  /** Renter data dirs to fund, by name. */
  renters: string[]
  /** The model every provider holds (`parkbench model add`). */
  modelFile: string
  /** Relays on the internet (`relay`, `relay2`, ...), every node's bootstrap peers. Default 1. */
  relays?: number
  /** The relays' limits (config.json `reach.relayLimits`) where they differ from the defaults. */
  relayLimits?: Record<string, number>
}

export interface NatMarketRelay {
  host: string
  addr: string
  daemon: LongRunning
  dataDir: string
}

export interface NatMarketProvider {
  host: string
  daemon: LongRunning
  peer: string
  dataDir: string
  /** Its direct address, when it is on a public host. */
  directAddr?: string
}

export interface NatMarket {
  lab: NatLab
  /** The first relay's address and data dir. */
  relayAddr: string
  relayDir: string
  relays: NatMarketRelay[]
  providers: NatMarketProvider[]
  /** Data dirs of the renters, by name. */
  renterDirs: Record<string, string>
  /** `parkbench ARGS` run to its end inside a lab host; never rejects on a non-zero exit. */
  cli(host: string, args: string[], timeoutMs?: number): Promise<NatLabExecResult>
  /** A relayed address a provider reserved (on `relay`, if given), once it has one (the daemon prints it). */
  relayedAddress(provider: NatMarketProvider, relay?: NatMarketRelay, timeoutMs?: number): Promise<string>
  close(): Promise<void>
}

export const NAT_MARKET_PORTS = { relay: 4001, provider: 4002, chain: 8545 } as const
const STEP_TIMEOUT_MS = 60_000

export async function startNatMarket(init: NatMarketInit): Promise<NatMarket> {
  const dir = await mkdtemp(join(tmpdir(), 'pb-nat-market-'))
  const publicProviders = init.providers.filter((p) => p.public === true).map((p) => p.host)
  const relayHosts = Array.from({ length: init.relays ?? 1 }, (_, i) => (i === 0 ? 'relay' : `relay${i + 1}`))
  const lab = await createNatLab({
    publicInternet: true,
    publicHosts: [...relayHosts, 'chain', ...publicProviders],
    lans: init.lans,
  })
  const running: LongRunning[] = []
  const close = async (): Promise<void> => {
    for (const process of running.reverse()) await process.stop()
    await lab.close()
    await rm(dir, { recursive: true, force: true })
  }
  try {
    const spawnIn = (host: string) => (argv: string[], options: SpawnOptions) => lab.spawn(host, argv, options)
    const providerDirs = init.providers.map((p) => join(dir, `provider-${p.host}`))
    const renterDirs = Object.fromEntries(init.renters.map((name) => [name, join(dir, `renter-${name}`)]))
    const chain = startCli(
      [
        'chain',
        '--data-dir',
        join(dir, 'chain'),
        '--host',
        lab.address('chain'),
        '--port',
        String(NAT_MARKET_PORTS.chain),
        ...[...providerDirs, ...Object.values(renterDirs)].flatMap((d) => ['--fund-data-dir', d]),
        '--json',
      ],
      { spawn: spawnIn('chain') },
    )
    running.push(chain)
    await chain.waitFor(/"configFiles"/, STEP_TIMEOUT_MS)
    const relays: NatMarketRelay[] = []
    for (const host of relayHosts) {
      const dataDir = join(dir, host)
      if (init.relayLimits != null) {
        await mkdir(dataDir, { recursive: true })
        await writeFile(join(dataDir, 'config.json'), JSON.stringify({ reach: { relayLimits: init.relayLimits } }))
      }
      const listen = `/ip4/${lab.address(host)}/tcp/${NAT_MARKET_PORTS.relay}`
      const daemon = startCli(
        [
          'start',
          '--data-dir',
          dataDir,
          '--no-sell',
          '--relay-server',
          '--listen',
          listen,
          '--announce',
          listen,
          '--json',
        ],
        { spawn: spawnIn(host) },
      )
      running.push(daemon)
      const peer = (await daemon.waitFor(/"peerId":"([^"]+)"/, STEP_TIMEOUT_MS))[1]!
      relays.push({ host, addr: `${listen}/p2p/${peer}`, daemon, dataDir })
    }
    const relayAddr = relays[0]!.addr

    const providers: NatMarketProvider[] = []
    for (const [i, spec] of init.providers.entries()) {
      const dataDir = providerDirs[i]!
      const added = await runCli(['model', 'add', init.modelFile, '--data-dir', dataDir])
      if (added.code !== 0) throw new Error(`model add failed: ${added.stderr}`)
      const listen =
        spec.public === true ? `/ip4/${lab.address(spec.host)}/tcp/${NAT_MARKET_PORTS.provider}` : undefined
      const daemon = startCli(
        [
          'start',
          '--data-dir',
          dataDir,
          '--listen',
          listen ?? `/ip4/0.0.0.0/tcp/${NAT_MARKET_PORTS.provider}`,
          ...(listen != null ? ['--announce', listen] : []),
          ...relays.flatMap((r) => ['--bootstrap', r.addr]),
          '--price',
          String(spec.price),
          ...(spec.args ?? []),
          '--json',
        ],
        { spawn: spawnIn(spec.host) },
      )
      running.push(daemon)
      const peer = (await daemon.waitFor(/"peerId":"([^"]+)"/, STEP_TIMEOUT_MS))[1]!
      providers.push({
        host: spec.host,
        daemon,
        peer,
        dataDir,
        ...(listen != null ? { directAddr: `${listen}/p2p/${peer}` } : {}),
      })
    }
    return {
      lab,
      relayAddr,
      relayDir: relays[0]!.dataDir,
      relays,
      providers,
      renterDirs,
      cli: (host, args, timeoutMs = STEP_TIMEOUT_MS) =>
        lab.exec(host, [process.execPath, PARKBENCH_BIN, ...args], { timeoutMs }),
      async relayedAddress(provider, relay, timeoutMs = STEP_TIMEOUT_MS) {
        const through = relay != null ? relay.addr : '[^"]+'
        const pattern = new RegExp(`"relayedAddresses":\\[[^\\]]*"(${through}/p2p-circuit/p2p/${provider.peer})"`)
        return (await provider.daemon.waitFor(pattern, timeoutMs))[1]!
      },
      close,
    }
  } catch (err) {
    await close()
    throw err
  }
}
