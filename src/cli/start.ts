import { existsSync } from 'node:fs'
import { type ConfigInput, readConfigFile, resolveConfig } from '../daemon/config.js'
import { DEFAULT_CONSOLE_PORT } from '../daemon/console/console-server.js'
import { createDaemon } from '../daemon/daemon.js'
import { resolveDataDir } from '../daemon/data-dir.js'
import { InvalidInputError } from '../errors.js'
import { NATIVE_UNITS } from '../pay/amounts.js'
import { chainConfigPath, loadChainConfig } from '../pay/chain-config.js'
import { resolveEvmAccount } from '../pay/evm-key.js'
import { NETWORKS, networkChainConfig, networkPreset } from '../pay/networks.js'
import { RATE_HELP, showAmount, showGas, showRate } from './amounts.js'
import { type Command, integerFlag, stringFlag, stringListFlag, toJson } from './command.js'
import { AMINO_OPTIONS, aminoFlags, DATA_DIR_OPTION, JSON_OPTION } from './common-options.js'
import { reachLines } from './reach.js'
import { applyHumanAmounts, takeHumanAmounts } from './start-amounts.js'

/** A decimal number flag (`--max-load 0.5`), or InvalidInputError. */
function numberFlag(args: Parameters<typeof stringFlag>[0], name: string): number | undefined {
  const value = stringFlag(args, name)
  if (value === undefined) return undefined
  if (!/^\d+(\.\d+)?$/.test(value)) throw new InvalidInputError(`--${name} takes a number, got "${value}"`)
  return Number(value)
}

export const startCommand: Command = {
  name: 'start',
  summary: "Run the daemon: join the network and sell this machine's compute until SIGINT/SIGTERM.",
  usage:
    'parkbench start [--chain FILE | --network NAME [--rpc-url URL]] [--listen ADDR...] [--bootstrap ADDR...] [--price N] [--json]',
  options: {
    ...DATA_DIR_OPTION,
    listen: {
      type: 'string',
      multiple: true,
      valueName: 'ADDR',
      description: 'Multiaddr to listen on (default /ip4/0.0.0.0/tcp/0)',
    },
    announce: {
      type: 'string',
      multiple: true,
      valueName: 'ADDR',
      description: "Address to tell peers instead of the listening ones (a public node's own, e.g. a relay's)",
    },
    bootstrap: {
      type: 'string',
      multiple: true,
      valueName: 'ADDR',
      description: 'Peer to join through (/ip4/.../tcp/.../p2p/...)',
    },
    mdns: { type: 'boolean', description: 'Find peers on the LAN by mDNS (multicast)' },
    chain: {
      type: 'string',
      valueName: 'FILE',
      description: 'Chain config saved by `parkbench chain` (default $PARKBENCH_CHAIN or <data-dir>/chain.json)',
    },
    network: {
      type: 'string',
      valueName: 'NAME',
      description: `A known network instead of a chain config (${NETWORKS.map((n) => n.name).join(', ')})`,
    },
    'rpc-url': {
      type: 'string',
      valueName: 'URL',
      description: "With --network: your own RPC for it (the preset's is public)",
    },
    'private-key': {
      type: 'string',
      valueName: 'HEX',
      description: 'EVM key that is paid (default $PARKBENCH_PRIVATE_KEY or <data-dir>/evm.key)',
    },
    price: { type: 'string', valueName: 'RATE', description: `Price per second (default 1 gwei/s; ${RATE_HELP})` },
    token: { type: 'string', valueName: 'ADDR', description: 'ERC-20 to be paid in (default: native coin)' },
    threads: { type: 'string', valueName: 'N', description: 'Threads sold (default: all cores but one)' },
    'max-lease-seconds': { type: 'string', valueName: 'N', description: 'Longest commitment sold (default 600)' },
    'settle-threshold': {
      type: 'string',
      valueName: 'AMOUNT',
      description: 'Settle a channel once this much is unsettled (default 600 s of price; e.g. 0.001ETH or base units)',
    },
    'min-challenge-period': {
      type: 'string',
      valueName: 'S',
      description: "Refuse a contract whose challenge window is shorter (default 3600, the contract's floor)",
    },
    region: { type: 'string', valueName: 'NAME', description: 'Coarse region hint shown to renters' },
    'no-sell': { type: 'boolean', description: 'Join the network without selling' },
    'console-port': {
      type: 'string',
      valueName: 'N',
      description: `Owner console and /metrics port, on 127.0.0.1 (default ${DEFAULT_CONSOLE_PORT}; 0 any free port)`,
    },
    'console-host': {
      type: 'string',
      valueName: 'ADDR',
      description: 'Serve the console on this address instead of 127.0.0.1 (only the token guards it then)',
    },
    'no-console': { type: 'boolean', description: 'Serve no owner console and no /metrics' },
    'max-load': {
      type: 'string',
      valueName: 'X',
      description: 'Sell only while the rest of the machine loads each core at most X (e.g. 0.5)',
    },
    'ac-only': { type: 'boolean', description: 'Sell only on mains power (Linux: /sys/class/power_supply)' },
    'sell-hours': {
      type: 'string',
      valueName: 'HH:MM-HH:MM,...',
      description: 'Sell only inside these local-time windows, every day (e.g. 22:00-07:00)',
    },
    'max-sold-hours': {
      type: 'string',
      valueName: 'H',
      description: 'Sell at most H hours a day (time with a lease running)',
    },
    free: { type: 'boolean', description: 'Serve inference without a paid lease (trusted LAN or tests only)' },
    'relay-server': {
      type: 'boolean',
      description: 'Relay for nodes behind NATs (a public node; limits in protocols/README.md, "Relays")',
    },
    'no-relay': { type: 'boolean', description: 'Never reserve or dial relayed addresses' },
    upnp: {
      type: 'boolean',
      description: 'Ask the home router to forward the listening port by UPnP (searches the LAN by SSDP multicast)',
    },
    'dial-port': {
      type: 'string',
      valueName: 'PORT',
      description: 'Dial out from this local TCP port, for hole punching (default: a free one; 0: off)',
    },
    ...AMINO_OPTIONS,
    ...JSON_OPTION,
  },
  async run(args, io) {
    const dataDir = resolveDataDir(stringFlag(args, 'data-dir'), io.env)
    const offer: NonNullable<ConfigInput['offer']> = {}
    const pay: NonNullable<ConfigInput['pay']> = {}
    const flags: ConfigInput = { offer, pay }
    const listen = stringListFlag(args, 'listen')
    const bootstrap = stringListFlag(args, 'bootstrap')
    if (listen.length > 0) flags.listen = listen
    if (bootstrap.length > 0) flags.bootstrap = bootstrap
    const announce = stringListFlag(args, 'announce')
    if (announce.length > 0) flags.announce = announce
    if (args.values.mdns === true) flags.mdns = true
    if (args.values['no-sell'] === true) flags.sell = false
    if (args.values.free === true) flags.compute = { freeMode: true }
    const dialPort = integerFlag(args, 'dial-port')
    const upnp = args.values.upnp === true
    if (args.values['relay-server'] === true || args.values['no-relay'] === true || dialPort != null || upnp) {
      flags.reach = {
        ...(args.values['relay-server'] === true ? { relayServer: true } : {}),
        ...(args.values['no-relay'] === true ? { relay: false } : {}),
        ...(dialPort != null ? { dialPort } : {}),
        ...(upnp ? { upnp: true } : {}),
      }
    }
    const price = stringFlag(args, 'price')
    if (price != null) offer.pricePerSecond = price
    const threads = integerFlag(args, 'threads')
    if (threads != null) offer.threads = threads
    const maxLease = integerFlag(args, 'max-lease-seconds')
    if (maxLease != null) offer.maxLeaseSeconds = maxLease
    const region = stringFlag(args, 'region')
    if (region != null) offer.region = region
    const token = stringFlag(args, 'token')
    if (token != null) pay.token = token
    const threshold = stringFlag(args, 'settle-threshold')
    if (threshold != null) pay.settleThreshold = threshold
    const minChallengePeriod = stringFlag(args, 'min-challenge-period')
    if (minChallengePeriod != null) pay.minChallengePeriod = minChallengePeriod

    const policy: NonNullable<ConfigInput['policy']> = {}
    const maxLoad = numberFlag(args, 'max-load')
    if (maxLoad != null) policy.maxLoadPerCore = maxLoad
    if (args.values['ac-only'] === true) policy.acPowerOnly = true
    const hours = stringFlag(args, 'sell-hours')
    if (hours != null) policy.schedule = hours.split(',').map((w) => w.trim())
    const maxSold = numberFlag(args, 'max-sold-hours')
    if (maxSold != null) policy.maxSoldHoursPerDay = maxSold
    if (Object.keys(policy).length > 0) flags.policy = policy
    const fileConfig = await readConfigFile(dataDir)
    // --amino turns on what the file may have configured in more detail; its own flags win.
    const amino = aminoFlags(args)
    if (amino != null) flags.amino = { ...(typeof fileConfig.amino === 'object' ? fileConfig.amino : {}), ...amino }
    // Human amounts (10gwei/s) need the token's decimals: read once the chain is known, below.
    const human = takeHumanAmounts([
      { input: fileConfig, where: 'file' },
      { input: flags, where: 'flags' },
    ])
    const config = resolveConfig(dataDir, fileConfig, flags)
    const chainFile = stringFlag(args, 'chain')
    const network = stringFlag(args, 'network')
    if (network != null && chainFile != null) throw new InvalidInputError('Pass --network or --chain, not both')
    if (network != null) {
      const preset = networkPreset(network)
      // The preset's peers to join through, before any named on the command line.
      config.bootstrap = [...new Set([...preset.bootstrap, ...config.bootstrap])]
      if (config.bootstrap.length === 0 && !config.mdns) {
        io.stderr(`parkbench: ${network} has no public bootstrap peers yet: pass --bootstrap ADDR to join others\n`)
      }
    }
    // A first start with no chain named anywhere: run (join the network, serve the console) without selling, and
    // say how to sell, rather than refuse to start.
    const chainNamed = chainFile != null || network != null || (io.env.PARKBENCH_CHAIN ?? '') !== ''
    if (config.sell && !chainNamed && !existsSync(chainConfigPath(dataDir))) {
      io.stderr(
        `parkbench: not selling: no chain to be paid on (${chainConfigPath(dataDir)} does not exist). For a local dev chain run \`parkbench chain --fund-data-dir ${dataDir}\` in another shell and start again; for a real network pass --network NAME.\n`,
      )
      config.sell = false
    }
    const chain = !config.sell
      ? undefined
      : network != null
        ? networkChainConfig(network, { rpcUrl: stringFlag(args, 'rpc-url') })
        : await loadChainConfig({ dataDir, env: io.env, ...(chainFile != null ? { file: chainFile } : {}) })
    if (chain != null) await applyHumanAmounts(config, human, chain, { signal: io.signal })
    const account = config.sell
      ? await resolveEvmAccount({ dataDir, privateKey: stringFlag(args, 'private-key'), env: io.env })
      : undefined
    // Reachability changes are printed once the start lines are out (they come with the status at start).
    let reported = false
    let units = config.pay.token == null ? NATIVE_UNITS : undefined
    const consolePort = integerFlag(args, 'console-port')
    if (consolePort != null && consolePort > 65_535) throw new InvalidInputError('--console-port is at most 65535')
    const consoleHost = stringFlag(args, 'console-host')
    const daemon = createDaemon({
      config,
      chain,
      account,
      ...(args.values['no-console'] === true
        ? {}
        : {
            console: {
              port: consolePort ?? DEFAULT_CONSOLE_PORT,
              ...(consoleHost != null ? { host: consoleHost } : {}),
            },
          }),
      onEvent: (event) => {
        if (event.type === 'warning') io.stderr(`parkbench: ${event.message}\n`)
        if (event.type === 'reach:changed' && reported) {
          if (args.values.json === true) io.stdout(`${toJson({ event: 'reach', ...event.reach })}\n`)
          else io.stdout(`${reachLines(event.reach).join('\n')}\n`)
        }
        if (args.values.json === true) return
        if (event.type === 'settle:settled') {
          const { paid, channelId, gasCost } = event.result
          io.stdout(`settled ${showAmount(paid, units)} on channel ${channelId} (gas ${showGas(gasCost)})\n`)
        }
        if (event.type === 'settle:skipped' && event.skipped.writtenOff) {
          const { gain, channelId, estimatedCost } = event.skipped
          io.stdout(
            `wrote off ${showAmount(gain, units)} on closing channel ${channelId}: settling it would cost ${showGas(estimatedCost)}\n`,
          )
        }
      },
    })
    await daemon.start()
    const status = await daemon.status()
    units = status.tokenUnits ?? units
    const consoleUrl = daemon.console?.urlWithToken()
    if (args.values.json === true) {
      io.stdout(`${JSON.stringify(JSON.parse(toJson({ ...status, consoleUrl: consoleUrl ?? null })))}\n`)
    } else {
      io.stdout(`parkbench node ${status.peerId}\n`)
      for (const addr of status.addresses.filter((a) => !a.includes('/p2p-circuit'))) {
        io.stdout(`  listening on ${addr}\n`)
      }
      io.stdout(`${reachLines(status.reach).join('\n')}\n`)
      if (config.amino != null) {
        const mode = config.amino.server === true ? 'server' : config.amino.server === 'auto' ? 'auto' : 'client'
        io.stdout(`  on the IPFS Amino DHT too (${mode}, ${config.amino.addressScope ?? 'public'} addresses)\n`)
      }
      io.stdout(
        status.offer != null
          ? `  selling ${status.offer.threads} threads at ${showRate(status.offer.pricePerSecond, units, status.offer.tokenSymbol)}, paid to ${status.payoutAddress}\n`
          : '  not selling\n',
      )
      if (consoleUrl != null) io.stdout(`  owner console ${consoleUrl}\n`)
      io.stdout('Press Ctrl+C to stop.\n')
    }
    reported = true
    await new Promise<void>((resolve) => {
      if (io.signal.aborted) resolve()
      io.signal.addEventListener('abort', () => resolve(), { once: true })
    })
    await daemon.stop()
    if (args.values.json !== true) io.stdout('stopped\n')
    return 0
  },
}
