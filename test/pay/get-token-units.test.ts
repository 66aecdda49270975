import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { after, before, describe, it } from 'node:test'
import { type Abi, type Address, type Hex, zeroAddress } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { deployContract, waitForTransactionReceipt } from 'viem/actions'
import { getTokenUnits } from '../../src/pay/actions/get-token-units.js'
import { feesToSend } from '../../src/pay/actions/internal.js'
import { NATIVE_UNITS } from '../../src/pay/amounts.js'
import { createPayPublicClient, createPayWalletClient, type PayPublicClient } from '../../src/pay/clients.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { ChainError } from '../../src/pay/errors.js'

// Tokens the dev chain lacks, compiled here with solc-js (about a second): a 6-decimal stablecoin look-alike and an
// early-style token whose symbol() returns bytes32 (as MKR's does).
const SOURCE = `// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
contract SixDecimals { string public symbol = "USDC"; uint8 public decimals = 6; }
contract Bytes32Symbol { bytes32 public symbol = "MKR"; uint8 public decimals = 18; }
contract HostileSymbol { string public symbol = "RU\\x1b[2JG"; uint8 public decimals = 18; }
`

function compile(): Record<string, { abi: Abi; bytecode: Hex }> {
  const solc = createRequire(import.meta.url)('solc') as { compile(input: string): string }
  const output = JSON.parse(
    solc.compile(
      JSON.stringify({
        language: 'Solidity',
        sources: { 'Tokens.sol': { content: SOURCE } },
        settings: { outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } },
      }),
    ),
  )
  const errors = (output.errors ?? []).filter((e: { severity: string }) => e.severity === 'error')
  if (errors.length > 0) throw new Error(JSON.stringify(errors))
  const contracts: Record<string, { abi: Abi; bytecode: Hex }> = {}
  for (const [name, c] of Object.entries(output.contracts['Tokens.sol'] as Record<string, any>)) {
    contracts[name] = { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` }
  }
  return contracts
}

describe('getTokenUnits (real anvil)', () => {
  let chain: DevChain
  let client: PayPublicClient
  const deployed: Record<string, Address> = {}

  before(async () => {
    chain = await startDevChain()
    client = createPayPublicClient(chain)
    const wallet = createPayWalletClient(chain, privateKeyToAccount(chain.accounts[0]!.privateKey))
    for (const [name, { abi, bytecode }] of Object.entries(compile())) {
      const fees = await feesToSend(wallet, {})
      const hash = await deployContract(wallet, { ...(fees as object), abi, bytecode } as Parameters<
        typeof deployContract
      >[1])
      deployed[name] = (await waitForTransactionReceipt(client, { hash })).contractAddress!
    }
  })
  after(async () => {
    await chain?.stop()
  })

  it('is ETH with 18 decimals for the native coin, without asking the chain', async () => {
    assert.deepEqual(await getTokenUnits(client, {}), NATIVE_UNITS)
    assert.deepEqual(await getTokenUnits(client, { token: zeroAddress }), NATIVE_UNITS)
  })

  it("reads the dev token's symbol and decimals from its contract", async () => {
    assert.deepEqual(await getTokenUnits(client, { token: chain.token }), {
      symbol: 'PBDEV',
      decimals: 18,
      native: false,
    })
  })

  it('reads any ERC-20: 6 decimals, a bytes32 symbol, a symbol that would write to the terminal', async () => {
    assert.deepEqual(await getTokenUnits(client, { token: deployed.SixDecimals! }), {
      symbol: 'USDC',
      decimals: 6,
      native: false,
    })
    assert.equal((await getTokenUnits(client, { token: deployed.Bytes32Symbol! })).symbol, 'MKR')
    assert.equal((await getTokenUnits(client, { token: deployed.HostileSymbol! })).symbol, 'RU2JG')
  })

  it('shows a contract without symbol() or decimals() as TOKEN with 0 decimals', async () => {
    // The PaymentChannel contract has neither function.
    assert.deepEqual(await getTokenUnits(client, { token: chain.contract }), {
      symbol: 'TOKEN',
      decimals: 0,
      native: false,
    })
  })

  it('fails with ChainError when the RPC is down, rather than guessing decimals', async () => {
    const down = createPayPublicClient({ ...chain, rpcUrl: 'http://127.0.0.1:1' })
    await assert.rejects(getTokenUnits(down, { token: deployed.SixDecimals! }), (err: unknown) => {
      assert.ok(err instanceof ChainError, String(err))
      return true
    })
  })
})
