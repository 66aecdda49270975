import { resolveDataDir } from '../daemon/data-dir.js'
import { InvalidInputError } from '../errors.js'
import { type ApiKeyStatus, GATEWAY_PORT, KeyStore, openGateway, startGatewayHttp } from '../gateway/index.js'
import { CHAIN_OPTIONS, chainContext } from './channel-common.js'
import {
  bigintFlag,
  type Command,
  type CommandIo,
  integerFlag,
  type OptionSpec,
  type ParsedArgs,
  stringFlag,
  stringListFlag,
  toJson,
} from './command.js'
import { DATA_DIR_OPTION, DISCOVERY_OPTIONS, JSON_OPTION, peerAddressFlag } from './common-options.js'

/** `--model ALIAS=FILE`, repeatable: what `gateway` and `mcp` serve by alias. */
export const MODEL_ALIAS_OPTION: Record<string, OptionSpec> = {
  model: {
    type: 'string',
    multiple: true,
    valueName: 'ALIAS=FILE',
    description: 'Serve a local .onnx file under an alias (also <data-dir>/gateway/models.json)',
  },
}

export function modelAliases(values: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const v of values) {
    const eq = v.indexOf('=')
    if (eq <= 0 || eq === v.length - 1) throw new InvalidInputError(`--model ${v}: expected ALIAS=FILE`)
    out[v.slice(0, eq)] = v.slice(eq + 1)
  }
  return out
}

function keyRow(k: ApiKeyStatus): Record<string, unknown> {
  const { hash: _h, ...rest } = k
  return {
    ...rest,
    createdAt: new Date(k.createdAt).toISOString(),
    ...(k.revokedAt != null ? { revokedAt: new Date(k.revokedAt).toISOString() } : {}),
    spend: {
      total: k.spend.total,
      hour: k.spend.hour,
      hourResetsAt: new Date(k.spend.hourStart + 3_600_000).toISOString(),
      day: k.spend.day,
      dayResetsAt: new Date(k.spend.dayStart + 86_400_000).toISOString(),
    },
  }
}

const keyCreateCommand: Command = {
  name: 'create',
  summary: 'Create an API key with a price ceiling and spend caps (wei); prints the key once',
  usage:
    'parkbench gateway key create --name NAME --max-price-per-second N [--max-per-hour N] [--max-per-day N] [--max-total N]',
  options: {
    name: { type: 'string', valueName: 'NAME', description: 'A name for the key (e.g. agent-1)' },
    'max-price-per-second': {
      type: 'string',
      valueName: 'N',
      description: 'Most a lease may cost per second (required)',
    },
    'max-per-hour': { type: 'string', valueName: 'N', description: 'Spend cap per UTC hour' },
    'max-per-day': { type: 'string', valueName: 'N', description: 'Spend cap per UTC day' },
    'max-total': { type: 'string', valueName: 'N', description: 'Spend cap in total' },
    ...DATA_DIR_OPTION,
    ...JSON_OPTION,
  },
  async run(args, io) {
    const name = stringFlag(args, 'name')
    const maxPricePerSecond = bigintFlag(args, 'max-price-per-second')
    if (name == null || maxPricePerSecond == null) {
      throw new InvalidInputError('key create needs --name NAME and --max-price-per-second N')
    }
    const caps = {
      maxPricePerSecond,
      ...optional('maxPerHour', bigintFlag(args, 'max-per-hour')),
      ...optional('maxPerDay', bigintFlag(args, 'max-per-day')),
      ...optional('maxTotal', bigintFlag(args, 'max-total')),
    }
    const store = await KeyStore.open(resolveDataDir(stringFlag(args, 'data-dir'), io.env))
    const { token, record } = await store.create(name, caps)
    if (args.values.json === true) io.stdout(`${toJson({ key: token, id: record.id, name, caps })}\n`)
    else io.stdout(`${token}\n(key "${name}", id ${record.id}: shown once, stored only as its sha256)\n`)
    return 0
  },
}

function optional<K extends string>(name: K, value: bigint | undefined): Partial<Record<K, bigint>> {
  return value == null ? {} : ({ [name]: value } as Record<K, bigint>)
}

const keyRevokeCommand: Command = {
  name: 'revoke',
  summary: 'Revoke an API key (by name or id); its spend stays on record',
  usage: 'parkbench gateway key revoke NAME|ID',
  maxPositionals: 1,
  options: { ...DATA_DIR_OPTION },
  async run(args, io) {
    const which = args.positionals[0]
    if (which == null) throw new InvalidInputError('key revoke needs the key name or id')
    const store = await KeyStore.open(resolveDataDir(stringFlag(args, 'data-dir'), io.env))
    const key = await store.revoke(which)
    io.stdout(`revoked key "${key.name}" (${key.id})\n`)
    return 0
  },
}

const keysCommand: Command = {
  name: 'keys',
  summary: 'List API keys: caps, spend this hour, today and in total, and when each window resets',
  usage: 'parkbench gateway keys [--json]',
  options: { ...DATA_DIR_OPTION, ...JSON_OPTION },
  async run(args, io) {
    const store = await KeyStore.open(resolveDataDir(stringFlag(args, 'data-dir'), io.env))
    const keys = await store.list()
    if (args.values.json === true) {
      io.stdout(`${toJson({ keys: keys.map(keyRow) })}\n`)
      return 0
    }
    if (keys.length === 0) io.stdout('no keys: create one with "parkbench gateway key create"\n')
    for (const k of keys) {
      const c = k.caps
      io.stdout(
        `${k.name} (${k.id})${k.revokedAt != null ? ' revoked' : ''}: ceiling ${c.maxPricePerSecond}/s; ` +
          `hour ${k.spend.hour}/${c.maxPerHour ?? '-'}, day ${k.spend.day}/${c.maxPerDay ?? '-'}, ` +
          `total ${k.spend.total}/${c.maxTotal ?? '-'}\n`,
      )
    }
    return 0
  },
}

export const gatewayCommand: Command = {
  name: 'gateway',
  summary:
    'Serve the Open Inference Protocol (KServe V2) REST API on 127.0.0.1, renting nearby providers for each request, with per-key budgets',
  usage:
    'parkbench gateway [--port N] [--model ALIAS=FILE...] (--bootstrap ADDR... | --mdns) | gateway key ... | gateway keys',
  options: {
    port: { type: 'string', valueName: 'N', description: `Port to listen on (default ${GATEWAY_PORT})` },
    host: {
      type: 'string',
      valueName: 'HOST',
      description: 'Listen on this address instead of 127.0.0.1 (it spends your money)',
    },
    ...MODEL_ALIAS_OPTION,
    ...DISCOVERY_OPTIONS,
    ...DATA_DIR_OPTION,
    ...CHAIN_OPTIONS,
    'max-concurrent': {
      type: 'string',
      valueName: 'N',
      description: 'Requests run at once (default 32); more get 429',
    },
    'max-body-bytes': { type: 'string', valueName: 'N', description: 'Largest request body (default 64 MiB)' },
    'request-timeout-ms': {
      type: 'string',
      valueName: 'MS',
      description: 'Longest a request may take (default 60000)',
    },
    'idle-ms': {
      type: 'string',
      valueName: 'MS',
      description: 'End a lease after this long without requests (default 3000)',
    },
  },
  subcommands: [
    {
      name: 'key',
      summary: 'Create or revoke API keys',
      usage: 'parkbench gateway key create|revoke',
      subcommands: [keyCreateCommand, keyRevokeCommand],
    },
    keysCommand,
  ],
  async run(args, io) {
    const opened = await openGatewayFromArgs(args, io)
    try {
      const http = await startGatewayHttp(opened.gateway, {
        port: integerFlag(args, 'port') ?? GATEWAY_PORT,
        ...(stringFlag(args, 'host') != null ? { host: stringFlag(args, 'host')! } : {}),
        ...optionalNumber('maxBodyBytes', integerFlag(args, 'max-body-bytes')),
      })
      for (const m of opened.gateway.models.aliases()) io.stdout(`model ${m.name} = ${m.sha256}\n`)
      io.stdout(`gateway listening on ${http.url}\n`)
      await new Promise<void>((resolve) => {
        if (io.signal.aborted) resolve()
        io.signal.addEventListener('abort', () => resolve(), { once: true })
      })
      await http.stop()
    } finally {
      await opened.close()
    }
    return 0
  },
}

/** The renter client and gateway core that `gateway` and `mcp` run, from their shared flags. */
export async function openGatewayFromArgs(args: ParsedArgs, io: CommandIo): ReturnType<typeof openGateway> {
  const bootstrap = stringListFlag(args, 'bootstrap')
  for (const addr of bootstrap) peerAddressFlag(addr, '--bootstrap')
  if (bootstrap.length === 0 && args.values.mdns !== true) {
    throw new InvalidInputError('No way to find providers: pass --bootstrap ADDR or --mdns')
  }
  const ctx = await chainContext(args, io.env)
  return openGateway({
    client: {
      dataDir: ctx.dataDir,
      chain: ctx.chain,
      account: ctx.account,
      bootstrap,
      mdns: args.values.mdns === true,
      ...optionalNumber('idleMs', integerFlag(args, 'idle-ms')),
      onEvent: (e) => {
        if (e.type === 'warning') io.stderr(`parkbench: ${e.message}\n`)
        if (e.type === 'failover') io.stderr(`provider ${e.from} failed (${e.error}); trying the next\n`)
      },
    },
    models: modelAliases(stringListFlag(args, 'model')),
    ...optionalNumber('maxConcurrentRequests', integerFlag(args, 'max-concurrent')),
    ...optionalNumber('requestTimeoutMs', integerFlag(args, 'request-timeout-ms')),
  })
}

/** Flags `gateway` and `mcp` share: models, discovery, data dir, chain, limits. */
export const GATEWAY_SHARED_OPTIONS: Record<string, OptionSpec> = {
  ...MODEL_ALIAS_OPTION,
  ...DISCOVERY_OPTIONS,
  ...DATA_DIR_OPTION,
  ...CHAIN_OPTIONS,
  'max-concurrent': { type: 'string', valueName: 'N', description: 'Requests run at once (default 32); more get 429' },
  'request-timeout-ms': { type: 'string', valueName: 'MS', description: 'Longest a request may take (default 60000)' },
  'idle-ms': {
    type: 'string',
    valueName: 'MS',
    description: 'End a lease after this long without requests (default 3000)',
  },
}

function optionalNumber<K extends string>(name: K, value: number | undefined): Partial<Record<K, number>> {
  return value == null ? {} : ({ [name]: value } as Record<K, number>)
}
