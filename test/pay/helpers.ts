import assert from 'node:assert/strict'
import { type Address, type Hex, keccak256, toBytes } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { getBalance, readContract } from 'viem/actions'
import {
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
