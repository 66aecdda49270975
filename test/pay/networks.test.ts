import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { privateKeyToAccount } from 'viem/accounts'
import { getBlockNumber, getCode } from 'viem/actions'
import {
  DETERMINISTIC_DEPLOYER,
  deployPaymentChannelDeterministic,
  deterministicPaymentChannelAddress,
} from '../../src/pay/actions/deploy-deterministic.js'
import { verifyPaymentContract } from '../../src/pay/actions/verify-contract.js'
import { createPayPublicClient, createPayWalletClient } from '../../src/pay/clients.js'
import { DEFAULT_CHALLENGE_PERIOD_SECONDS } from '../../src/pay/constants.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { loadOrCreateEvmKey } from '../../src/pay/evm-key.js'
import { NETWORKS, networkChainConfig, networkPreset, PAYMENT_CHANNEL_ADDRESS } from '../../src/pay/networks.js'
import { runMain } from '../helpers/cli.js'

const cli = runMain

describe('network presets and the deterministic PaymentChannel', () => {
  it('ship the address the committed bytecode gets through the deployment proxy, the same on every chain', () => {
    assert.equal(
      deterministicPaymentChannelAddress({ challengePeriod: DEFAULT_CHALLENGE_PERIOD_SECONDS }),
      PAYMENT_CHANNEL_ADDRESS,
    )
    assert.ok(NETWORKS.length >= 2)
    for (const n of NETWORKS) {
      assert.equal(n.contract, PAYMENT_CHANNEL_ADDRESS, n.name)
      assert.match(n.rpcUrl, /^https:\/\//, n.name)
      assert.equal(networkChainConfig(n.name, { rpcUrl: 'http://127.0.0.1:1' }).rpcUrl, 'http://127.0.0.1:1')
    }
    assert.throws(() => networkPreset('mainnet-of-mars'), { code: 'CHAIN_CONFIG' })
  })

  describe('on anvil posing as base-sepolia (chain id 84532; anvil has the proxy built in)', () => {
    let chain: DevChain
    let dir: string
    const preset = networkPreset('base-sepolia')
    before(async () => {
      chain = await startDevChain({ chainId: preset.chainId })
      dir = await mkdtemp(join(tmpdir(), 'parkbench-networks-'))
      await chain.fund(privateKeyToAccount(await loadOrCreateEvmKey(dir)).address)
    })
    after(async () => {
      await chain.stop()
      await rm(dir, { recursive: true, force: true })
    })

    it('a daemon refuses the preset while its contract is missing, naming the reason', async () => {
      const result = await cli([
        'start',
        '--network',
        preset.name,
        '--rpc-url',
        chain.rpcUrl,
        '--data-dir',
        dir,
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
      ])
      assert.equal(result.code, 1, result.stdout)
      assert.match(result.stderr, /UNKNOWN_CONTRACT/)
    })

    it('`chain deploy --network` puts PaymentChannel at the shipped address, once; the checks accept it', async () => {
      const client = createPayPublicClient({ rpcUrl: chain.rpcUrl, chainId: chain.chainId })
      assert.notEqual(await getCode(client, { address: DETERMINISTIC_DEPLOYER }), undefined)
      const first = await cli([
        'chain',
        'deploy',
        '--network',
        preset.name,
        '--rpc-url',
        chain.rpcUrl,
        '--data-dir',
        dir,
        '--json',
      ])
      assert.equal(first.code, 0, first.stderr)
      const out = JSON.parse(first.stdout) as { contract: string; deployed: boolean }
      assert.equal(out.contract, PAYMENT_CHANNEL_ADDRESS)
      assert.equal(out.deployed, true)
      const code = await getCode(client, { address: PAYMENT_CHANNEL_ADDRESS })
      assert.ok(code !== undefined && code.length > 2)
      // The daemon's own check: exactly the committed bytecode, with the preset's challenge window.
      const verified = await verifyPaymentContract(client, { contract: PAYMENT_CHANNEL_ADDRESS })
      assert.equal(verified.challengePeriod, DEFAULT_CHALLENGE_PERIOD_SECONDS)
      // Again: nothing is sent.
      const block = await getBlockNumber(client)
      const again = await cli([
        'chain',
        'deploy',
        '--network',
        preset.name,
        '--rpc-url',
        chain.rpcUrl,
        '--data-dir',
        dir,
      ])
      assert.equal(again.code, 0, again.stderr)
      assert.match(again.stdout, /already at/)
      assert.equal(await getBlockNumber(client), block)
      // And the action itself agrees.
      const wallet = createPayWalletClient(
        { rpcUrl: chain.rpcUrl, chainId: chain.chainId, maxPriorityFeePerGas: '0' },
        privateKeyToAccount(await loadOrCreateEvmKey(dir)),
      )
      const direct = await deployPaymentChannelDeterministic(wallet, {
        challengePeriod: DEFAULT_CHALLENGE_PERIOD_SECONDS,
      })
      assert.deepEqual(direct, { address: PAYMENT_CHANNEL_ADDRESS, deployed: false })
    })

    it('the renter side takes --network too: `channel status` reads the preset chain', async () => {
      const result = await cli([
        'channel',
        'status',
        '--network',
        preset.name,
        '--rpc-url',
        chain.rpcUrl,
        '--data-dir',
        dir,
        '--json',
      ])
      assert.equal(result.code, 0, result.stderr)
      const status = JSON.parse(result.stdout) as { chainId: number; contract: string }
      assert.equal(status.chainId, preset.chainId)
      assert.equal(status.contract, PAYMENT_CHANNEL_ADDRESS)
    })

    it('a preset pointing at other code is refused (the check is the bytecode, not the address)', async () => {
      const client = createPayPublicClient({ rpcUrl: chain.rpcUrl, chainId: chain.chainId })
      await assert.rejects(verifyPaymentContract(client, { contract: chain.token }), { code: 'UNKNOWN_CONTRACT' })
    })

    it('refuses an RPC that serves another chain than the preset', async () => {
      const result = await cli([
        'chain',
        'deploy',
        '--network',
        'optimism-sepolia',
        '--rpc-url',
        chain.rpcUrl,
        '--data-dir',
        dir,
      ])
      assert.equal(result.code, 2)
      assert.match(result.stderr, /serves chain 84532, not optimism-sepolia/)
    })
  })
})
