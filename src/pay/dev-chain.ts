import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { type Address, bytesToHex, type Hex, parseEther } from 'viem'
import { generatePrivateKey, mnemonicToAccount, privateKeyToAccount } from 'viem/accounts'
import { deployDevToken, deployPaymentChannel } from './actions/deploy.js'
import { writeAndWait } from './actions/internal.js'
import type { ChainConfig } from './chain-config.js'
import { createPayWalletClient, type PayWalletClient } from './clients.js'
import { DEV_CHALLENGE_PERIOD_SECONDS } from './constants.js'
import { DEV_TOKEN_ABI } from './contract/artifact.js'
import { ChainError } from './errors.js'

const log = logger('parkbench:pay:dev-chain')

/** anvil's default mnemonic: the well-known, publicly funded dev accounts. Never use them on a real chain. */
export const DEV_MNEMONIC = 'test test test test test test test test test test test junk'
export const DEV_CHAIN_ID = 31337
export const DEV_ACCOUNT_COUNT = 10
/** Each dev account and each funded key gets this much ETH and dev token. */
export const DEV_FUND_ETH = parseEther('10000')
export const DEV_FUND_TOKENS = parseEther('1000000')
/** The dev chain's starting base fee (0.005 gwei), about a busy rollup's. */
export const DEV_BASE_FEE_PER_GAS = 5_000_000n

export interface DevAccount {
  address: Address
  privateKey: Hex
}

export interface DevChainOptions {
  /** TCP port; default 0 (anvil picks a free one). */
  port?: number
  /**
   * The IP address anvil listens on and the RPC URL names. Default 127.0.0.1: a dev chain is for this machine (a
   * test's NAT lab runs one on its own internet).
   */
  host?: string
  chainId?: number
  challengePeriod?: bigint
  /** Extra addresses to fund with ETH and dev tokens. */
  fund?: Address[]
  /** Seconds between blocks; default: mine on every transaction. */
  blockTime?: number
  /**
   * The starting base fee per gas, in wei. Default 5,000,000 (0.005 gwei), about a busy rollup's: a settlement
   * costs ~0.0000003 ETH, so settling pays after a few minutes of a lease at the default price, as on a rollup.
   * (It falls while blocks stay nearly empty, as EIP-1559 has it.) Tips are 0.
   */
  baseFeePerGas?: bigint
  /** The anvil binary; default the one in node_modules (@foundry-rs/anvil-<platform>-<arch>), or $PARKBENCH_ANVIL. */
  anvilPath?: string
}

export interface DevChain extends ChainConfig {
  token: Address
  deployBlock: number
  challengePeriod: string
  maxPriorityFeePerGas: string
  accounts: DevAccount[]
  /** Fund an address with ETH (anvil_setBalance) and dev tokens (mint). */
  fund(address: Address, options?: AbortOptions): Promise<void>
  /** Advance the chain's clock by `seconds` and mine a block (skips a challenge window without sleeping). */
  increaseTime(seconds: bigint | number): Promise<void>
  /** Stop anvil (idempotent). */
  stop(): Promise<void>
}

/** The part of a dev chain that other processes need: what `parkbench chain` saves as chain.json. */
export function devChainConfig(chain: DevChain): ChainConfig {
  return {
    rpcUrl: chain.rpcUrl,
    chainId: chain.chainId,
    contract: chain.contract,
    token: chain.token,
    deployBlock: chain.deployBlock,
    challengePeriod: chain.challengePeriod,
    maxPriorityFeePerGas: chain.maxPriorityFeePerGas,
  }
}

/** Find the anvil binary shipped in the @foundry-rs/anvil platform package. */
export function findAnvil(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PARKBENCH_ANVIL != null && env.PARKBENCH_ANVIL !== '') return env.PARKBENCH_ANVIL
  const arch = process.arch === 'x64' ? 'amd64' : process.arch
  const pkg = `@foundry-rs/anvil-${process.platform}-${arch}`
  try {
    const dir = dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`))
    for (const name of ['anvil', 'anvil.exe']) if (existsSync(join(dir, 'bin', name))) return join(dir, 'bin', name)
  } catch {}
  throw new ChainError(`No anvil binary: install ${pkg} (npm install @foundry-rs/anvil) or set PARKBENCH_ANVIL`)
}

export function devAccounts(count = DEV_ACCOUNT_COUNT): DevAccount[] {
  const out: DevAccount[] = []
  for (let i = 0; i < count; i++) {
    const account = mnemonicToAccount(DEV_MNEMONIC, { addressIndex: i })
    out.push({ address: account.address, privateKey: bytesToHex(account.getHdKey().privateKey!) })
  }
  return out
}

async function rpc(rpcUrl: string, method: string, params: unknown[]): Promise<unknown> {
  const res = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(10_000),
  })
  const body = (await res.json()) as { result?: unknown; error?: { message: string } }
  if (body.error != null) throw new ChainError(`${method}: ${body.error.message}`)
  return body.result
}

function spawnAnvil(path: string, args: string[]): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new ChainError(`anvil did not start in 20 s:\n${out.slice(-2000)}`))
    }, 20_000)
    const onData = (chunk: Buffer): void => {
      out += chunk.toString()
      const match = /Listening on [^\s:]+:(\d+)/.exec(out)
      if (match != null) {
        clearTimeout(timer)
        child.stdout?.off('data', onData)
        // Keep draining so a chatty anvil never blocks on a full pipe.
        child.stdout?.resume()
        resolve({ child, port: Number(match[1]) })
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
    })
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(new ChainError(`anvil failed to start: ${err.message}`, { cause: err }))
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new ChainError(`anvil exited (${code}) before listening:\n${out.slice(-2000)}`))
    })
  })
}

/**
 * anvil must never outlive this process. An 'exit' handler covers every way out but SIGKILL; for that, a tiny shell
 * loop (not our child's child, so it survives us) kills anvil once this process is gone, and ends by itself when
 * anvil stops first.
 */
function watchParent(child: ChildProcess): void {
  if (process.platform === 'win32' || child.pid == null) return
  const script = `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${child.pid} 2>/dev/null; do sleep 1; done; kill -9 ${child.pid} 2>/dev/null`
  const watchdog = spawn('/bin/sh', ['-c', script], { stdio: 'ignore', detached: true })
  watchdog.on('error', (err) => log('anvil watchdog failed to start: %e', err))
  watchdog.unref()
}

/**
 * Give an address ETH (anvil_setBalance) and dev tokens (DevToken.mint, which anyone may call) on a dev chain.
 *
 * @example
 * await fundDevAccount(await loadChainConfig({ dataDir }), '0x...')
 */
export async function fundDevAccount(
  chain: { rpcUrl: string; chainId: number; token?: Address | undefined },
  address: Address,
  options: AbortOptions = {},
): Promise<void> {
  options.signal?.throwIfAborted()
  await rpc(chain.rpcUrl, 'anvil_setBalance', [address, `0x${DEV_FUND_ETH.toString(16)}`])
  if (chain.token == null) return
  // Dev chains take no tip (anvil runs with --no-priority-fee); its suggested 1 gwei would exceed the fee cap.
  const minter = createPayWalletClient(
    { maxPriorityFeePerGas: '0', ...chain },
    privateKeyToAccount(devAccounts(1)[0]!.privateKey),
  )
  await writeAndWait(
    minter,
    { address: chain.token, abi: DEV_TOKEN_ABI, functionName: 'mint', args: [address, DEV_FUND_TOKENS] },
    options,
  )
}

/**
 * Start a local anvil on 127.0.0.1 with the deterministic dev accounts, deploy PaymentChannel and the dev ERC-20,
 * mint dev tokens to every dev account (and `fund`), and return the config plus `stop()`. anvil is killed when this
 * process exits, whatever the reason short of SIGKILL.
 *
 * @example
 * const chain = await startDevChain()
 * try { ... chain.rpcUrl, chain.contract, chain.accounts[0].privateKey ... } finally { await chain.stop() }
 */
export async function startDevChain(options: DevChainOptions = {}): Promise<DevChain> {
  const chainId = options.chainId ?? DEV_CHAIN_ID
  const args = [
    '--host',
    options.host ?? '127.0.0.1',
    '--port',
    String(options.port ?? 0),
    '--chain-id',
    String(chainId),
    '--mnemonic',
    DEV_MNEMONIC,
    '--accounts',
    String(DEV_ACCOUNT_COUNT),
    '--balance',
    '10000',
    '--base-fee',
    String(options.baseFeePerGas ?? DEV_BASE_FEE_PER_GAS),
    '--no-priority-fee',
  ]
  if (options.blockTime != null) args.push('--block-time', String(options.blockTime))
  const { child, port } = await spawnAnvil(options.anvilPath ?? findAnvil(), args)
  watchParent(child)
  const killOnExit = (): void => {
    child.kill('SIGKILL')
  }
  process.once('exit', killOnExit)
  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopped ??= new Promise<void>((resolve) => {
      process.off('exit', killOnExit)
      if (child.exitCode != null || child.signalCode != null) return resolve()
      const force = setTimeout(() => child.kill('SIGKILL'), 3_000)
      child.once('exit', () => {
        clearTimeout(force)
        resolve()
      })
      child.kill('SIGTERM')
    })
    return stopped
  }
  const host = options.host ?? '127.0.0.1'
  const rpcUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  log('anvil listening on %s (pid %d)', rpcUrl, child.pid)
  try {
    const accounts = devAccounts()
    // A fresh deployer each start: every dev chain gets contracts at new addresses, so channels and payment state
    // of an earlier (restarted) dev chain can never be mistaken for this one's, even at an identical genesis.
    const deployerAccount = privateKeyToAccount(generatePrivateKey())
    await rpc(rpcUrl, 'anvil_setBalance', [deployerAccount.address, `0x${parseEther('10').toString(16)}`])
    const deployer: PayWalletClient = createPayWalletClient(
      { rpcUrl, chainId, maxPriorityFeePerGas: '0' },
      deployerAccount,
    )
    const challengePeriod = options.challengePeriod ?? DEV_CHALLENGE_PERIOD_SECONDS
    const channel = await deployPaymentChannel(deployer, { challengePeriod })
    const token = await deployDevToken(deployer, {})
    const devToken = { rpcUrl, chainId, token: token.address }
    const fund = (address: Address, fundOptions: AbortOptions = {}): Promise<void> =>
      fundDevAccount(devToken, address, fundOptions)
    for (const account of accounts) await fund(account.address)
    for (const address of options.fund ?? []) await fund(address)
    return {
      rpcUrl,
      chainId,
      contract: channel.address,
      token: token.address,
      deployBlock: Number(channel.blockNumber),
      challengePeriod: challengePeriod.toString(),
      maxPriorityFeePerGas: '0',
      accounts,
      fund,
      async increaseTime(seconds) {
        await rpc(rpcUrl, 'evm_increaseTime', [Number(seconds)])
        await rpc(rpcUrl, 'evm_mine', [])
      },
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}
