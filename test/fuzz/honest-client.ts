import { type ChildProcess, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { createInterface, type Interface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Hex } from 'viem'

const HERE = dirname(fileURLToPath(import.meta.url))

export interface ProbeResult {
  ok: boolean
  ms: number
  error?: string
}

/**
 * Drives the honest renter process (honest-renter-process.ts): one real lease and inference per `probe()`, from
 * another node in another process, each bounded by `deadlineMs`.
 */
export class HonestClient {
  private readonly child: ChildProcess
  private readonly lines: Interface
  private readonly queue: string[] = []
  private waiter: (() => void) | undefined
  private stderr = ''

  private constructor(child: ChildProcess) {
    this.child = child
    this.lines = createInterface({ input: child.stdout! })
    this.lines.on('line', (line) => {
      this.queue.push(line)
      this.waiter?.()
    })
    child.stderr!.on('data', (d) => {
      this.stderr = (this.stderr + String(d)).slice(-4000)
    })
  }

  static async start(init: {
    dataDir: string
    chain: { rpcUrl: string; chainId: number; contract: Hex }
    privateKey: Hex
    provider: string
    model: string
    price: bigint
  }): Promise<HonestClient> {
    const child = spawn(
      process.execPath,
      [join(HERE, 'honest-renter-process.js'), JSON.stringify({ ...init, price: String(init.price) })],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    )
    const client = new HonestClient(child)
    const ready = await client.nextLine(30_000)
    if (ready !== 'ready') throw new Error(`honest renter did not start: ${ready} ${client.stderr}`)
    return client
  }

  private async nextLine(timeoutMs: number): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs
    while (this.queue.length === 0) {
      if (this.child.exitCode != null || Date.now() >= deadline) return undefined
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(250, deadline - Date.now()))
        this.waiter = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.waiter = undefined
    }
    return this.queue.shift()
  }

  /** One lease + inference + end; a probe that overruns its deadline by 5 s counts as failed. */
  async probe(deadlineMs: number): Promise<ProbeResult> {
    const started = performance.now()
    this.child.stdin!.write(`probe ${deadlineMs}\n`)
    const line = await this.nextLine(deadlineMs + 5_000)
    if (line === undefined) {
      return { ok: false, ms: performance.now() - started, error: `no answer (${this.stderr.slice(-300)})` }
    }
    const result = JSON.parse(line) as ProbeResult
    if (result.ok && result.ms > deadlineMs) return { ...result, ok: false, error: 'over its deadline' }
    return result
  }

  async stop(): Promise<void> {
    if (this.child.exitCode != null) return
    this.child.stdin!.write('stop\n')
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
}
