import assert from 'node:assert/strict'
import { type Address, createWalletClient, type Hex, http, keccak256, toBytes } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { getBalance, readContract } from 'viem/actions'
import {
  chainFromConfig,
  createPayPublicClient,
  createPayWalletClient,
  type PayPublicClient,
  type PayWalletClient,
} from '../../src/pay/clients.js'
import { DEV_TOKEN_ABI } from '../../src/pay/contract/artifact.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'

export interface Party {
  account: ReturnType<typeof privateKeyToAccount>
  wallet: PayWalletClient
}

export interface PayFixture {
  chain: DevChain
  publicClient: PayPublicClient
  renter: Party
  provider: Party
  /** The provider's node id (what a channel is bound to): a stand-in for a peer id's hash in pay-only tests. */
  providerNode: Hex
  stranger: Party
}

export async function setupPayFixture(): Promise<PayFixture> {
  const chain = await startDevChain()
  const party = (i: number): Party => {
    const account = privateKeyToAccount(chain.accounts[i]!.privateKey)
    return { account, wallet: createPayWalletClient(chain, account) }
  }
  return {
    chain,
    publicClient: createPayPublicClient(chain),
    renter: party(1),
    provider: party(2),
    providerNode: keccak256(toBytes('parkbench test provider node')),
    stranger: party(3),
  }
}

/** ETH (token undefined) or dev-token balance. */
export async function balanceOf(f: PayFixture, address: Address, token?: Address): Promise<bigint> {
  if (token == null) return getBalance(f.publicClient, { address })
  return readContract(f.publicClient, {
    address: token,
    abi: DEV_TOKEN_ABI,
    functionName: 'balanceOf',
    args: [address],
  })
}

/** Assert a promise rejects with a typed error of this code. */
export async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: any) => {
    assert.equal(err?.code, code, `expected ${code}, got ${err?.code} (${err?.name}: ${err?.message})`)
    return true
  })
}

/** A JSON-RPC call to the dev chain (anvil_*, evm_* and the rest). */
export async function chainRpc(url: string, method: string, params: unknown[] = []): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(10_000),
  })
  const body = (await res.json()) as { result?: unknown; error?: { message: string } }
  if (body.error != null) throw new Error(`${method}: ${body.error.message}`)
  return body.result
}

/** Mine `blocks` empty blocks at once (anvil_mine). */
export async function mineBlocks(f: PayFixture, blocks: number): Promise<void> {
  await chainRpc(f.chain.rpcUrl, 'anvil_mine', [`0x${blocks.toString(16)}`])
}

/**
 * Make gas free on the dev chain for a {@link freeGasWallet}: the base fee is set to 0 and stays 0 while blocks are
 * under half full (EIP-1559 only raises it above the target).
 */
export async function zeroBaseFee(f: PayFixture): Promise<void> {
  await chainRpc(f.chain.rpcUrl, 'anvil_setNextBlockBaseFeePerGas', ['0x0'])
  await chainRpc(f.chain.rpcUrl, 'evm_mine')
}

/**
 * A wallet whose fee estimate has a zero priority fee (viem's chain `fees`): on a chain with a zero base fee, what it
 * sends with those fees costs no gas, so every settlement is worth it. For tests about durability, not economics.
 */
export function freeGasWallet(f: PayFixture, party: Party): PayWalletClient {
  return createWalletClient({
    account: party.account,
    chain: { ...chainFromConfig(f.chain), fees: { maxPriorityFeePerGas: 0n } },
    transport: http(f.chain.rpcUrl, { timeout: 30_000, retryCount: 0 }),
    pollingInterval: 25,
  })
}
