import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type ChainConfig, readChainConfig } from '../../src/pay/chain-config.js'
import { runMain } from '../helpers/cli.js'

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'parkbench.js')

const run = runMain

async function rpc(url: string, method: string, params: unknown[] = []): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  })
  return ((await res.json()) as { result: unknown }).result
}

describe('parkbench chain and parkbench channel (real anvil, real CLI)', () => {
  let dir: string
  let chainProcess: ChildProcess
  let chainOut = ''
  let config: ChainConfig

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parkbench-cli-'))
    chainProcess = spawn(
      process.execPath,
      [
        BIN,
        'chain',
        '--data-dir',
        join(dir, 'chain'),
        '--fund-data-dir',
        join(dir, 'renter'),
        '--fund-data-dir',
        join(dir, 'provider'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    await new Promise<void>((resolve, reject) => {
      chainProcess.stdout?.on('data', (d: Buffer) => {
        chainOut += d.toString()
        if (chainOut.includes('Next:')) resolve()
      })
      chainProcess.stderr?.on('data', (d: Buffer) => {
        chainOut += d.toString()
      })
      chainProcess.once('exit', (code) => reject(new Error(`parkbench chain exited ${code}: ${chainOut}`)))
    })
    config = await readChainConfig(join(dir, 'renter', 'chain.json'))
  })

  after(async () => {
    if (chainProcess.exitCode == null && chainProcess.signalCode == null) chainProcess.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })

  it('prints the RPC URL, chain id and addresses, and saves them for the other commands', async () => {
    assert.match(chainOut, new RegExp(`RPC URL\\s+${config.rpcUrl.replace(/\./g, '\\.')}`))
    assert.match(chainOut, /chain id\s+31337/)
    assert.ok(chainOut.includes(config.contract))
    assert.ok(chainOut.includes(config.token!))
    assert.deepEqual(await readChainConfig(join(dir, 'provider', 'chain.json')), config)
    assert.equal((await stat(join(dir, 'renter', 'evm.key'))).mode & 0o777, 0o600)
  })

  it('channel open, status --json, close and withdraw from the renter; settle from the provider', async () => {
    const renter = ['--data-dir', join(dir, 'renter')]
    const provider = ['--data-dir', join(dir, 'provider')]
    const who = await run(['channel', 'status', ...provider, '--json'])
    assert.equal(who.code, 0, who.stderr)
    const providerAddress = JSON.parse(who.stdout).account as string
    const providerPeer = (await run(['id', ...provider])).stdout.trim()
    const opened = await run([
      'channel',
      'open',
      ...renter,
      '--provider',
      providerAddress,
      '--peer',
      providerPeer,
      '--amount',
      '7000',
      '--json',
    ])
    assert.equal(opened.code, 0, opened.stderr)
    const { channelId } = JSON.parse(opened.stdout) as { channelId: string }
    const dev = await run([
      'channel',
      'open',
      ...renter,
      '--provider',
      providerAddress,
      '--peer',
      providerPeer,
      '--amount',
      '9',
      '--token',
      'dev',
    ])
    assert.equal(dev.code, 0, dev.stderr)
    assert.match(dev.stdout, /opened channel 0x[0-9a-f]{64}/)

    const status = await run(['channel', 'status', ...renter, '--channel', channelId, '--json'])
    assert.equal(status.code, 0, status.stderr)
    const [row] = JSON.parse(status.stdout).channels
    assert.equal(row.channelId, channelId)
    assert.equal(row.role, 'renter')
    assert.equal(row.status, 'open')
    assert.equal(row.deposit, '7000')
    assert.equal(row.paidOffChain, '0')
    const seen = JSON.parse((await run(['channel', 'status', ...provider, '--json'])).stdout).channels
    assert.equal(seen.length, 2)
    assert.ok(seen.every((c: { role: string }) => c.role === 'provider'))

    assert.equal((await run(['channel', 'settle', ...provider])).stdout.trim(), 'nothing to settle')
    // Two open channels: close needs --channel.
    const ambiguous = await run(['channel', 'close', ...renter])
    assert.equal(ambiguous.code, 2)
    assert.equal((await run(['channel', 'close', ...renter, '--channel', channelId])).code, 0)
    const early = await run(['channel', 'withdraw', ...renter, '--json'])
    assert.equal(early.code, 1)
    assert.match(early.stderr, /CHALLENGE_WINDOW/)
    await rpc(config.rpcUrl, 'evm_increaseTime', [Number(config.challengePeriod) + 1])
    await rpc(config.rpcUrl, 'evm_mine')
    const withdrawn = await run(['channel', 'withdraw', ...renter, '--json'])
    assert.equal(withdrawn.code, 0, withdrawn.stderr)
    assert.equal(JSON.parse(withdrawn.stdout).refund, '7000')
    const after = JSON.parse((await run(['channel', 'status', ...renter, '--channel', channelId, '--json'])).stdout)
    assert.equal(after.channels[0].status, 'withdrawn')
  })

  it('bad input exits 2; a missing chain config says how to get one', async () => {
    assert.equal((await run(['channel', 'open', '--data-dir', join(dir, 'renter'), '--amount', '1'])).code, 2)
    const none = await run(['channel', 'status', '--data-dir', join(dir, 'nowhere')])
    assert.equal(none.code, 1)
    assert.match(none.stderr, /CHAIN_CONFIG/)
  })

  it('chain deploy puts a fresh contract on any RPC; --rpc-url + --contract reach it without a config file', async () => {
    const key = '0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba' // dev account 9
    // The contract has a floor on the challenge window: a renter could otherwise withdraw in the next block.
    const tooShort = await run([
      'chain',
      'deploy',
      '--rpc-url',
      config.rpcUrl,
      '--private-key',
      key,
      '--challenge-period',
      '60',
      '--data-dir',
      join(dir, 'short'),
    ])
    assert.equal(tooShort.code, 1)
    assert.match(tooShort.stderr, /CHALLENGE_PERIOD_TOO_SHORT/)
    const deployed = await run([
      'chain',
      'deploy',
      '--rpc-url',
      config.rpcUrl,
      '--private-key',
      key,
      '--challenge-period',
      '3600',
      '--data-dir',
      join(dir, 'elsewhere'),
      '--json',
    ])
    assert.equal(deployed.code, 0, deployed.stderr)
    const result = JSON.parse(deployed.stdout) as { contract: string; chainId: number; challengePeriod: string }
    assert.notEqual(result.contract, config.contract)
    assert.equal(result.chainId, 31337)
    assert.equal((await readChainConfig(join(dir, 'elsewhere', 'chain.json'))).contract, result.contract)
    const status = await run([
      'channel',
      'status',
      '--data-dir',
      join(dir, 'flags-only'),
      '--rpc-url',
      config.rpcUrl,
      '--contract',
      result.contract,
      '--private-key',
      key,
      '--json',
    ])
    assert.equal(status.code, 0, status.stderr)
    const parsed = JSON.parse(status.stdout)
    assert.equal(parsed.contract, result.contract)
    assert.equal(parsed.chainId, 31337)
    assert.deepEqual(parsed.channels, [])
  })

  it('SIGTERM stops the chain: anvil stops answering and the saved configs are removed', async () => {
    const exited = new Promise<number | null>((resolve) => chainProcess.once('exit', (code) => resolve(code)))
    chainProcess.kill('SIGTERM')
    assert.equal(await exited, 0)
    assert.equal(existsSync(join(dir, 'renter', 'chain.json')), false)
    await assert.rejects(rpc(config.rpcUrl, 'eth_chainId'))
    assert.ok((await readFile(join(dir, 'renter', 'evm.key'), 'utf8')).startsWith('0x'))
  })
})
