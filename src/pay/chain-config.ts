import { mkdir, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { type Address, getAddress, isAddress } from 'viem'
import { writeFileDurable } from '../atomic-file.js'
import { CHAIN_CONFIG_ENV, CHAIN_CONFIG_FILE } from './constants.js'
import { ChainConfigError } from './errors.js'

/** Where a chain lives and which contracts to use: what `parkbench chain` saves and every chain command reads. */
export interface ChainConfig {
  rpcUrl: string
  chainId: number
  /** The PaymentChannel contract. */
  contract: Address
  /** A default ERC-20 (the dev token on the dev chain), if any. */
  token?: Address
  /** The block the contract was deployed in: where log scans start. */
  deployBlock?: number
  /** Seconds of the contract's challenge window, as a decimal string. */
  challengePeriod?: string
  /**
   * The priority fee (tip) per gas this node offers, in wei, as a decimal string; default what the RPC suggests.
   * Rollups need little or none; a settlement's cost is weighed with it (see the settler).
   */
  maxPriorityFeePerGas?: string
}

export interface LoadChainConfigOptions {
  /** An explicit file (`--chain FILE`). */
  file?: string
  /** The data dir whose chain.json is the default. */
  dataDir?: string
  /** `--rpc-url` + `--contract` override or replace the file. */
  rpcUrl?: string
  contract?: string
  token?: string
  env?: NodeJS.ProcessEnv
  /** Ask the RPC for the chain id when only `rpcUrl` + `contract` are given. */
  fetchChainId?: (rpcUrl: string) => Promise<number>
}

/** The default chain config path of a data dir. */
export function chainConfigPath(dataDir: string): string {
  return join(dataDir, CHAIN_CONFIG_FILE)
}

function parse(text: string, file: string): ChainConfig {
  let raw: any
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new ChainConfigError(`${file} is not JSON`, { cause: err })
  }
  if (typeof raw?.rpcUrl !== 'string' || !Number.isSafeInteger(raw.chainId) || !isAddress(raw.contract)) {
    throw new ChainConfigError(`${file} needs rpcUrl, chainId and contract`)
  }
  const config: ChainConfig = { rpcUrl: raw.rpcUrl, chainId: raw.chainId, contract: getAddress(raw.contract) }
  if (isAddress(raw.token)) config.token = getAddress(raw.token)
  if (Number.isSafeInteger(raw.deployBlock)) config.deployBlock = raw.deployBlock
  if (typeof raw.challengePeriod === 'string') config.challengePeriod = raw.challengePeriod
  if (typeof raw.maxPriorityFeePerGas === 'string' && /^\d+$/.test(raw.maxPriorityFeePerGas)) {
    config.maxPriorityFeePerGas = raw.maxPriorityFeePerGas
  }
  return config
}

/** Read one chain config file. */
export async function readChainConfig(file: string): Promise<ChainConfig> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new ChainConfigError(`Cannot read chain config ${file}: run "parkbench chain" or pass --chain`, {
      cause: err,
    })
  }
  return parse(text, file)
}

/** Write a chain config atomically (other commands may be reading it). */
export async function saveChainConfig(file: string, config: ChainConfig): Promise<void> {
  await mkdir(dirname(file), { recursive: true })
  await writeFileDurable(
    file,
    `${JSON.stringify(config, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`,
    0o644,
  )
}

async function rpcChainId(rpcUrl: string): Promise<number> {
  const res = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
    signal: AbortSignal.timeout(10_000),
  })
  const body = (await res.json()) as { result?: string }
  if (typeof body.result !== 'string') throw new ChainConfigError(`${rpcUrl} did not answer eth_chainId`)
  return Number(BigInt(body.result))
}

/**
 * Load the chain config: `file`, else `$PARKBENCH_CHAIN`, else `<dataDir>/chain.json`; then `rpcUrl`/`contract`/
 * `token` override it. With `rpcUrl` and `contract` and no file, the chain id is asked from the RPC.
 *
 * @example
 * const chain = await loadChainConfig({ dataDir: '/home/me/.parkbench' })
 */
export async function loadChainConfig(options: LoadChainConfigOptions = {}): Promise<ChainConfig> {
  const env = options.env ?? process.env
  const file =
    options.file ?? (env[CHAIN_CONFIG_ENV] != null && env[CHAIN_CONFIG_ENV] !== '' ? env[CHAIN_CONFIG_ENV] : undefined)
  let config: ChainConfig | undefined
  if (file != null) {
    config = await readChainConfig(file)
  } else if (options.rpcUrl == null || options.contract == null) {
    if (options.dataDir == null) throw new ChainConfigError('No chain config: pass --chain or --rpc-url and --contract')
    config = await readChainConfig(chainConfigPath(options.dataDir))
  }
  if (options.contract != null && !isAddress(options.contract)) {
    throw new ChainConfigError(`--contract ${options.contract} is not an address`)
  }
  if (options.token != null && !isAddress(options.token))
    throw new ChainConfigError(`${options.token} is not an address`)
  if (config == null) {
    const rpcUrl = options.rpcUrl!
    const chainId = await (options.fetchChainId ?? rpcChainId)(rpcUrl)
    config = { rpcUrl, chainId, contract: getAddress(options.contract!) }
  } else {
    if (options.rpcUrl != null) config.rpcUrl = options.rpcUrl
    if (options.contract != null) config.contract = getAddress(options.contract)
  }
  if (options.token != null) config.token = getAddress(options.token)
  return config
}
