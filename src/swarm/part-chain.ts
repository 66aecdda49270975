import { setTimeout as sleep } from 'node:timers/promises'
import type { AbortOptions } from '@libp2p/interface'
import { type Address, type Hex, keccak256, parseEther, stringToHex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { writeAndWait } from '../pay/actions/internal.js'
import type { ChainConfig } from '../pay/chain-config.js'
import { createPayWalletClient } from '../pay/clients.js'
import { DEV_TOKEN_ABI } from '../pay/contract/artifact.js'
import { DEV_FUND_ETH, DEV_FUND_TOKENS } from '../pay/dev-chain.js'
import { SwarmPartError } from './part.js'

/** The dev chain a run pays on: where it is, and how to give a member's key ETH and dev tokens. */
export interface SwarmChain {
  config: ChainConfig & { deployBlock: number }
  fund(address: Address, options?: AbortOptions): Promise<void>
}

async function rpc(rpcUrl: string, method: string, params: unknown[], options: AbortOptions = {}): Promise<unknown> {
  const res = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: options.signal ?? AbortSignal.timeout(10_000),
  })
  const body = (await res.json()) as { result?: unknown; error?: { message: string } }
  if (body.error != null) throw new SwarmPartError(`${rpcUrl} ${method}: ${body.error.message}`)
  return body.result
}

/**
 * Funding for one part on a shared dev chain. ETH comes from `anvil_setBalance` (no transaction, no nonce), and the
 * dev tokens from a minter key of this part's own (DevToken.mint is open to anyone): if every part minted from
 * anvil's first dev account, as a single run does, two hosts would race for its nonce.
 */
export function partChain(config: ChainConfig & { deployBlock: number }): SwarmChain {
  const minterKey = generatePrivateKey()
  const minter = privateKeyToAccount(minterKey)
  let ready: Promise<unknown> | undefined
  const setBalance = (address: Address, wei: bigint, options?: AbortOptions): Promise<unknown> =>
    rpc(config.rpcUrl, 'anvil_setBalance', [address, `0x${wei.toString(16)}`], options)
  // One at a time: the minter's transactions are numbered.
  let queue: Promise<unknown> = Promise.resolve()
  return {
    config,
    async fund(address, options = {}) {
      await setBalance(address, DEV_FUND_ETH, options)
      const token = config.token
      if (token === undefined) return
      ready ??= setBalance(minter.address, parseEther('10'), options)
      await ready
      const wallet = createPayWalletClient({ maxPriorityFeePerGas: '0', ...config }, minter)
      const mint = queue.then(() =>
        writeAndWait(
          wallet,
          { address: token, abi: DEV_TOKEN_ABI, functionName: 'mint', args: [address, DEV_FUND_TOKENS] },
          options,
        ),
      )
      queue = mint.catch(() => {})
      await mint
    },
  }
}

/** How often a part looks at the chain for the other parts' marks. */
const BARRIER_POLL_MS = 500

/**
 * A barrier between the parts of a run, kept on the chain they share (every host reaches its RPC already): part k
 * reaching a phase sets the balance of an address derived from the run, the phase and k to 1 wei
 * (`anvil_setBalance`, a dev-chain call); a part waits for the phase until all n addresses hold it. No clock is
 * involved, so clock skew between hosts cannot let a provider settle while a renter elsewhere still pays.
 */
export class ChainBarrier {
  constructor(
    private readonly rpcUrl: string,
    /** Unique to the run: the plan's start time and seed. */
    private readonly runTag: string,
    private readonly count: number,
  ) {}

  private address(phase: string, index: number): Address {
    const hash: Hex = keccak256(stringToHex(`parkbench-swarm-part:${this.runTag}:${phase}:${index}`))
    return `0x${hash.slice(-40)}` as Address
  }

  async mark(phase: string, index: number, options: AbortOptions = {}): Promise<void> {
    await rpc(this.rpcUrl, 'anvil_setBalance', [this.address(phase, index), '0x1'], options)
  }

  /** Wait until every part marked `phase`; resolves with the parts that did not within `timeoutMs`. */
  async wait(phase: string, timeoutMs: number, options: AbortOptions = {}): Promise<number[]> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const missing: number[] = []
      for (let k = 1; k <= this.count; k++) {
        const balance = await rpc(this.rpcUrl, 'eth_getBalance', [this.address(phase, k), 'latest'], options).catch(
          () => '0x0',
        )
        if (BigInt(balance as string) === 0n) missing.push(k)
      }
      if (missing.length === 0 || Date.now() >= deadline) return missing
      await sleep(BARRIER_POLL_MS, undefined, options.signal !== undefined ? { signal: options.signal } : {})
    }
  }
}
