import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { type Address, createPublicClient, formatEther, getAddress, http, isAddress } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { getChainId } from 'viem/actions'
import { resolveDataDir } from '../daemon/data-dir.js'
import { InvalidInputError } from '../errors.js'
import {
  CHAIN_CONFIG_FILE,
  chainConfigPath,
  createPayWalletClient,
  DEFAULT_CHALLENGE_PERIOD_SECONDS,
  DEV_CHALLENGE_PERIOD_SECONDS,
  deployPaymentChannel,
  deployPaymentChannelDeterministic,
  devChainConfig,
  fundDevAccount,
  loadChainConfig,
  loadOrCreateEvmKey,
  NETWORKS,
  networkChainConfig,
  resolveEvmAccount,
  saveChainConfig,
  startDevChain,
} from '../pay/index.js'
import {
  type Command,
  type CommandIo,
  integerFlag,
  type ParsedArgs,
  stringFlag,
  stringListFlag,
  toJson,
} from './command.js'
import { DATA_DIR_OPTION, JSON_OPTION } from './common-options.js'

function addresses(args: ParsedArgs): Address[] {
  return stringListFlag(args, 'fund').map((a) => {
    if (!isAddress(a)) throw new InvalidInputError(`--fund ${a} is not an address`)
    return getAddress(a)
  })
}

/** The EVM address of each data dir's key (creating evm.key on first use). */
async function dataDirAddresses(dirs: string[]): Promise<Array<{ dir: string; address: Address }>> {
  const out: Array<{ dir: string; address: Address }> = []
  for (const dir of dirs) out.push({ dir, address: privateKeyToAddress(await loadOrCreateEvmKey(dir)) })
  return out
}

const fundCommand: Command = {
  name: 'fund',
  summary: "Give addresses (or data dirs' EVM keys) ETH and dev tokens on the running dev chain.",
  usage: 'parkbench chain fund [ADDR...] [--fund-data-dir DIR...] [--data-dir DIR] [--chain FILE]',
  maxPositionals: 100,
  options: {
    ...DATA_DIR_OPTION,
    chain: { type: 'string', valueName: 'FILE', description: 'Chain config (default <data-dir>/chain.json)' },
    'fund-data-dir': {
      type: 'string',
      multiple: true,
      valueName: 'DIR',
      description: 'Fund the EVM key of this data dir and copy the chain config there (repeatable)',
    },
  },
  async run(args, io) {
    const dataDir = resolveDataDir(stringFlag(args, 'data-dir'), io.env)
    const file = stringFlag(args, 'chain')
    const chain = await loadChainConfig({ dataDir, env: io.env, ...(file != null ? { file } : {}) })
    const targets: Address[] = args.positionals.map((a) => {
      if (!isAddress(a)) throw new InvalidInputError(`${a} is not an address`)
      return getAddress(a)
    })
    const dirs = stringListFlag(args, 'fund-data-dir').map((d) => resolveDataDir(d, io.env))
    for (const { dir, address } of await dataDirAddresses(dirs)) {
      targets.push(address)
      await saveChainConfig(chainConfigPath(dir), chain)
    }
    if (targets.length === 0) throw new InvalidInputError('Name at least one ADDR or --fund-data-dir')
    for (const address of targets) {
      await fundDevAccount(chain, address, { signal: io.signal })
      io.stdout(`funded ${address}\n`)
    }
    return 0
  },
}

const deployCommand: Command = {
  name: 'deploy',
  summary: 'Deploy PaymentChannel on any EVM chain and save its chain config (for chains other than the dev chain).',
  usage:
    'parkbench chain deploy (--network NAME [--rpc-url URL] | --rpc-url URL [--challenge-period SECONDS]) [--private-key HEX] [--data-dir DIR]',
  options: {
    ...DATA_DIR_OPTION,
    ...JSON_OPTION,
    network: {
      type: 'string',
      valueName: 'NAME',
      description: `Put PaymentChannel at its one address on a known network where it is missing (${NETWORKS.map((n) => n.name).join(', ')})`,
    },
    'rpc-url': { type: 'string', valueName: 'URL', description: "The chain's JSON-RPC URL" },
    'private-key': {
      type: 'string',
      valueName: 'HEX',
      description: 'Deployer key (default $PARKBENCH_PRIVATE_KEY or <data-dir>/evm.key); it pays the gas',
    },
    'challenge-period': {
      type: 'string',
      valueName: 'SECONDS',
      description: `Renter-exit challenge window (default ${DEFAULT_CHALLENGE_PERIOD_SECONDS})`,
    },
  },
  async run(args, io) {
    const network = stringFlag(args, 'network')
    if (network != null) return deployToNetwork(args, io, network)
    const rpcUrl = stringFlag(args, 'rpc-url')
    if (rpcUrl == null) throw new InvalidInputError('--rpc-url URL is required (or --network NAME)')
    const dataDir = resolveDataDir(stringFlag(args, 'data-dir'), io.env)
    const period = integerFlag(args, 'challenge-period')
    const account = await resolveEvmAccount({ privateKey: stringFlag(args, 'private-key'), dataDir, env: io.env })
    const chainId = await getChainId(createPublicClient({ transport: http(rpcUrl) }))
    const wallet = createPayWalletClient({ rpcUrl, chainId }, account)
    const deployed = await deployPaymentChannel(
      wallet,
      { challengePeriod: period != null ? BigInt(period) : DEFAULT_CHALLENGE_PERIOD_SECONDS },
      { signal: io.signal },
    )
    const config = {
      rpcUrl,
      chainId,
      contract: deployed.address,
      deployBlock: Number(deployed.blockNumber),
      challengePeriod: String(period ?? DEFAULT_CHALLENGE_PERIOD_SECONDS),
    }
    const file = chainConfigPath(dataDir)
    await saveChainConfig(file, config)
    io.stdout(
      args.values.json === true
        ? `${toJson({ ...config, transactionHash: deployed.transactionHash, configFile: file })}\n`
        : `deployed PaymentChannel at ${deployed.address} on chain ${chainId} (block ${deployed.blockNumber})\nsaved ${file}\n`,
    )
    return 0
  },
}

/**
 * `chain deploy --network NAME`: PaymentChannel through the deterministic deployment proxy, at the address the
 * preset ships, unless it is there already; the chain id must be the preset's.
 */
async function deployToNetwork(args: ParsedArgs, io: CommandIo, network: string): Promise<number> {
  if (integerFlag(args, 'challenge-period') != null) {
    throw new InvalidInputError("--challenge-period is the preset's with --network (its address depends on it)")
  }
  const config = networkChainConfig(network, { rpcUrl: stringFlag(args, 'rpc-url') })
  const dataDir = resolveDataDir(stringFlag(args, 'data-dir'), io.env)
  const chainId = await getChainId(createPublicClient({ transport: http(config.rpcUrl) }))
  if (chainId !== config.chainId) {
    throw new InvalidInputError(`${config.rpcUrl} serves chain ${chainId}, not ${network} (${config.chainId})`)
  }
  const account = await resolveEvmAccount({ privateKey: stringFlag(args, 'private-key'), dataDir, env: io.env })
  const wallet = createPayWalletClient(config, account)
  const result = await deployPaymentChannelDeterministic(
    wallet,
    { challengePeriod: BigInt(config.challengePeriod!) },
    { signal: io.signal },
  )
  if (result.address !== config.contract) {
    throw new InvalidInputError(`Deployed at ${result.address}, not the preset's ${config.contract}: the build differs`)
  }
  if (result.blockNumber !== undefined) config.deployBlock = Number(result.blockNumber)
  const file = chainConfigPath(dataDir)
  await saveChainConfig(file, config)
  io.stdout(
    args.values.json === true
      ? `${toJson({ ...config, network, deployed: result.deployed, transactionHash: result.transactionHash, configFile: file })}\n`
      : result.deployed
        ? `deployed PaymentChannel at ${result.address} on ${network} (block ${result.blockNumber})\nsaved ${file}\n`
        : `PaymentChannel is already at ${result.address} on ${network}: nothing sent\nsaved ${file}\n`,
  )
  return 0
}

export const chainCommand: Command = {
  name: 'chain',
  summary: 'Run a local dev chain (anvil) with PaymentChannel and a dev ERC-20 deployed, until Ctrl-C.',
  usage: 'parkbench chain [--port N] [--host IP] [--fund ADDR...] [--fund-data-dir DIR...] [--data-dir DIR] [--json]',
  subcommands: [fundCommand, deployCommand],
  options: {
    ...DATA_DIR_OPTION,
    ...JSON_OPTION,
    port: { type: 'string', valueName: 'N', description: 'RPC port (default: a free one)' },
    host: { type: 'string', valueName: 'IP', description: 'Address to serve the RPC on (default 127.0.0.1)' },
    'challenge-period': {
      type: 'string',
      valueName: 'SECONDS',
      description: `Renter-exit challenge window (default ${DEV_CHALLENGE_PERIOD_SECONDS})`,
    },
    fund: { type: 'string', multiple: true, valueName: 'ADDR', description: 'Also fund this address (repeatable)' },
    'fund-data-dir': {
      type: 'string',
      multiple: true,
      valueName: 'DIR',
      description: "Fund this data dir's EVM key and save the chain config there too (repeatable)",
    },
  },
  async run(args, io) {
    const dataDir = resolveDataDir(stringFlag(args, 'data-dir'), io.env)
    const port = integerFlag(args, 'port')
    const period = integerFlag(args, 'challenge-period')
    // The data dir's own key is funded too, so the node using this data dir can pay right away.
    const dirs = [dataDir, ...stringListFlag(args, 'fund-data-dir').map((d) => resolveDataDir(d, io.env))]
    const keyed = await dataDirAddresses(dirs)
    const host = stringFlag(args, 'host')
    const chain = await startDevChain({
      ...(port != null ? { port } : {}),
      ...(host != null ? { host } : {}),
      ...(period != null ? { challengePeriod: BigInt(period) } : {}),
      fund: [...addresses(args), ...keyed.map((k) => k.address)],
    })
    const saved: string[] = []
    try {
      const config = devChainConfig(chain)
      for (const { dir } of keyed) {
        const file = chainConfigPath(dir)
        await saveChainConfig(file, config)
        saved.push(file)
      }
      if (args.values.json === true) {
        io.stdout(`${toJson({ ...config, configFiles: saved, accounts: chain.accounts, funded: keyed })}\n`)
      } else {
        const lines = [
          'parkbench dev chain (anvil) is running. Ctrl-C stops it.',
          '',
          `  RPC URL          ${chain.rpcUrl}`,
          `  chain id         ${chain.chainId}`,
          `  PaymentChannel   ${chain.contract}   (challenge window ${chain.challengePeriod} s)`,
          `  dev token        ${chain.token}   (PBDEV, 18 decimals, anyone may mint)`,
          '',
          `  config saved to  ${saved.join('\n                   ')}`,
          '',
          'Funded keys (10000 ETH and 1000000 PBDEV each):',
          ...keyed.map((k) => `  ${k.address}   ${join(k.dir, 'evm.key')}`),
          ...addresses(args).map((a) => `  ${a}`),
          '',
          'Dev accounts (public, well-known keys: never use them on a real chain):',
          ...chain.accounts.slice(0, 4).map((a, i) => `  (${i}) ${a.address}  ${a.privateKey}`),
          `  ... ${chain.accounts.length} accounts from the mnemonic "test test ... junk", ${formatEther(10n ** 22n)} ETH each`,
          '',
          'Next: parkbench channel open --provider ADDR --amount WEI   (other shells pick up the config above)',
          '',
        ]
        io.stdout(lines.join('\n'))
      }
      if (!io.signal.aborted) {
        await new Promise<void>((resolve) => io.signal.addEventListener('abort', () => resolve(), { once: true }))
      }
      io.stdout('stopping anvil\n')
      return 0
    } finally {
      await chain.stop()
      // A stopped chain's config would point the other commands at a dead RPC.
      for (const file of saved) await rm(file, { force: true })
    }
  },
}

/** For tests: the file name `parkbench chain` writes in each data dir. */
export const CHAIN_FILE_NAME = CHAIN_CONFIG_FILE
