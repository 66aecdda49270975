import { existsSync } from 'node:fs'
import { createClient } from '../client/client.js'
import { resolveDataDir } from '../daemon/data-dir.js'
import { InvalidInputError } from '../errors.js'
import { isSha256Hex, summarizeOffer } from '../market/index.js'
import { NATIVE_UNITS, type TokenUnits } from '../pay/amounts.js'
import { chainConfigPath, loadChainConfig } from '../pay/chain-config.js'
import { networkChainConfig } from '../pay/networks.js'
import { RATE_HELP, rateFlag, showRate, unitsOfToken } from './amounts.js'
import { type Command, integerFlag, stringFlag, stringListFlag, toJson } from './command.js'
import {
  AMINO_OPTIONS,
  aminoFlags,
  DATA_DIR_OPTION,
  DISCOVERY_OPTIONS,
  JSON_OPTION,
  peerAddressFlag,
} from './common-options.js'

export const offersCommand: Command = {
  name: 'offers',
  summary: 'List providers near you, best first (price weighted by round-trip time), each with a verified offer.',
  usage:
    'parkbench offers (--bootstrap ADDR... | --mdns | --amino) [--model HASH] [--max-rtt MS] [--max-price RATE] [--data-dir DIR] [--json]',
  options: {
    ...DATA_DIR_OPTION,
    model: { type: 'string', valueName: 'HASH', description: 'Only providers holding this model (hex sha256)' },
    'max-rtt': { type: 'string', valueName: 'MS', description: 'Only providers at most this many ms away' },
    'max-price': {
      type: 'string',
      valueName: 'RATE',
      description: `Only offers at most this price per second (${RATE_HELP})`,
    },
    timeout: { type: 'string', valueName: 'MS', description: 'How long to look (default 5000)' },
    network: {
      type: 'string',
      valueName: 'NAME',
      description: "Say which offers are payable on this known network (default: the data dir's chain config)",
    },
    ...DISCOVERY_OPTIONS,
    ...AMINO_OPTIONS,
    ...JSON_OPTION,
  },
  async run(args, io) {
    const bootstrap = stringListFlag(args, 'bootstrap')
    for (const addr of bootstrap) peerAddressFlag(addr, '--bootstrap')
    const amino = aminoFlags(args)
    if (bootstrap.length === 0 && args.values.mdns !== true && amino == null) {
      throw new InvalidInputError(
        'No way to find peers: pass --bootstrap ADDR (see `parkbench start` output), --mdns or --amino',
      )
    }
    const model = stringFlag(args, 'model')?.toLowerCase()
    if (model != null && !isSha256Hex(model)) throw new InvalidInputError('--model takes a 64-digit hex sha256')
    const timeoutMs = integerFlag(args, 'timeout') ?? 5_000
    const maxRttMs = integerFlag(args, 'max-rtt')
    // The renter pays in the native coin (as `infer` does), so the ceiling is read in its units.
    const maxPricePerSecond = rateFlag(args, 'max-price', NATIVE_UNITS)

    // With the data dir's chain config, each offer says whether this renter can pay it (chain, contract, token).
    const dataDir = resolveDataDir(stringFlag(args, 'data-dir'), io.env)
    const network = stringFlag(args, 'network')
    const chain =
      network != null
        ? networkChainConfig(network)
        : existsSync(chainConfigPath(dataDir))
          ? await loadChainConfig({ dataDir, env: io.env })
          : undefined
    const client = await createClient({
      dataDir,
      ...(chain != null ? { chain } : {}),
      bootstrap,
      mdns: args.values.mdns === true,
      ...(amino != null ? { amino } : {}),
    })
    try {
      const found = await client.offers(
        {
          timeoutMs,
          ...(model != null ? { model } : {}),
          ...(maxRttMs != null ? { maxRttMs } : {}),
          ...(maxPricePerSecond != null ? { maxPricePerSecond } : {}),
        },
        { signal: io.signal },
      )
      // Each offer's token: ETH, or an ERC-20 whose symbol and decimals this renter's chain can tell.
      const unitsByToken = new Map<string, TokenUnits | undefined>()
      for (const f of found) {
        const summary = summarizeOffer(f.peerId, f.offer)
        const key = `${summary.chainId}:${summary.token}`
        if (unitsByToken.has(key)) continue
        const units = await unitsOfToken(
          summary.token,
          { chain, chainId: summary.chainId },
          { signal: io.signal },
        ).catch(() => undefined)
        unitsByToken.set(key, units)
      }
      const rows = found.map((f) => ({
        ...summarizeOffer(f.peerId, f.offer),
        rttMs: Math.round(f.rttMs * 100) / 100,
        score: Math.round(f.score * 1000) / 1000,
        addresses: f.multiaddrs.map((a) => a.toString()),
        ...(chain != null ? { payable: f.payable } : {}),
      }))
      const unitsOf = (r: (typeof rows)[number]): TokenUnits | undefined => unitsByToken.get(`${r.chainId}:${r.token}`)
      if (args.values.json === true) {
        // Amounts stay exact base units; tokenDecimals (where known) says how to read them.
        const withDecimals = rows.map((r) => {
          const units = unitsOf(r)
          return units == null ? r : { ...r, tokenDecimals: units.decimals }
        })
        io.stdout(`${toJson(withDecimals)}\n`)
        return 0
      }
      if (rows.length === 0) {
        io.stdout('No offers found.\n')
        return 0
      }
      io.stdout(`${'#'.padEnd(3)} ${'peer'.padEnd(54)} ${'price'.padEnd(34)} ${'rtt ms'.padStart(8)} threads models\n`)
      rows.forEach((r, i) => {
        io.stdout(
          `${String(i + 1).padEnd(3)} ${r.peerId.padEnd(54)} ${showRate(r.pricePerSecond, unitsOf(r), r.tokenSymbol).padEnd(34)} ${r.rttMs.toFixed(2).padStart(8)} ${String(r.threads).padStart(7)} ${r.models.map((m) => m.name || m.sha256.slice(0, 12)).join(', ')}\n`,
        )
      })
      return 0
    } finally {
      await client.close()
    }
  },
}
