import type { Multiaddr } from '@multiformats/multiaddr'
import { INFER_PROTOCOL, MODEL_PROTOCOL } from '../compute/constants.js'
import { infer } from '../compute/infer.js'
import type { WorkerPool } from '../compute/worker-pool.js'
import type { PoolJob, PoolResult } from '../compute/worker-pool-types.js'
import { LEASE_PROTOCOL } from '../lease/constants.js'
import { keyToCid, modelKey } from '../market/capability-keys.js'
import { OFFER_PROTOCOL } from '../market/constants.js'
import { createNode, type ParkbenchNode } from '../net/create-node.js'
import type { SwarmContext } from './members.js'
import { joinSwarm, memberNode, stopQuietly } from './members.js'
import type { Random } from './random.js'
import type { NodeSpec } from './schedule.js'

/** Run a DHT query to its end in the background, ignoring how it ends. */
function drain(events: AsyncIterable<unknown>): void {
  void (async () => {
    try {
      for await (const _ of events);
    } catch {}
  })()
}

const ATTACKED_PROTOCOLS = [INFER_PROTOCOL, MODEL_PROTOCOL, LEASE_PROTOCOL, OFFER_PROTOCOL]

/**
 * A pool whose every float32 output is off by one: what a provider that returns wrong results serves. It runs the
 * real job (and so costs what an honest one costs) and then corrupts the answer.
 */
export function corruptingPool(pool: WorkerPool): WorkerPool {
  return new Proxy(pool, {
    get(target, prop) {
      if (prop === 'run') {
        return async (job: PoolJob, options?: Parameters<WorkerPool['run']>[1]): Promise<PoolResult> => {
          const result = await target.run(job, options)
          for (const output of result.outputs) {
            if (output.dtype !== 'float32' || !(output.data instanceof Uint8Array)) continue
            const bytes = new Uint8Array(output.data)
            const values = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
            for (let i = 0; i < values.length; i++) values[i] = values[i]! + 1
            output.data = bytes
          }
          return result
        }
      }
      const value = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/** A hostile peer: garbage frames, freeloading inference, or offers that do not verify. */
export class HostilePeer {
  node: ParkbenchNode | undefined

  constructor(
    readonly spec: NodeSpec,
    private readonly ctx: SwarmContext,
    private readonly runTag: string,
    private readonly random: Random,
  ) {}

  async start(): Promise<void> {
    this.node = await createNode(memberNode(this.ctx, this.spec, this.runTag))
    await joinSwarm(this.node)
    if (this.spec.role === 'bad-offer') {
      // Answer offer requests with noise, and claim every workload model on the DHT.
      await this.node.handle(OFFER_PROTOCOL, (stream) => {
        stream.send(this.bytes(64, 4096))
        stream.close().catch(() => {})
      })
      for (const model of this.ctx.models.values()) {
        const cid = await keyToCid(modelKey(model.sha256))
        drain(this.node.services.dht.provide(cid, { signal: AbortSignal.timeout(30_000) }))
      }
    }
  }

  private bytes(min: number, max: number): Uint8Array {
    const out = new Uint8Array(this.random.int(min, max))
    for (let i = 0; i < out.length; i++) out[i] = this.random.int(0, 255)
    return out
  }

  /** One move against `target`: garbage on a random protocol, or an inference it has not paid for. */
  async attack(target: Multiaddr): Promise<void> {
    const node = this.node
    if (node === undefined) return
    const { metrics } = this.ctx
    if (this.spec.role === 'garbage') {
      const protocol = this.random.pick(ATTACKED_PROTOCOLS)
      try {
        const stream = await node.dialProtocol(target, protocol, { signal: AbortSignal.timeout(5_000) })
        stream.send(this.bytes(1, 8192))
        await stream.close({ signal: AbortSignal.timeout(5_000) }).catch(() => stream.abort(new Error('done')))
        metrics.attack('answered')
      } catch {
        metrics.attack('refused')
      }
      return
    }
    if (this.spec.role === 'freeloader') {
      const model = this.random.pick([...this.ctx.models.values()])
      try {
        await infer(
          node,
          target,
          { model: model.sha256, inputs: model.inputs(0) },
          { signal: AbortSignal.timeout(10_000) },
        )
        // Served without a lease: the invariant counts it.
        metrics.attack('free')
      } catch {
        metrics.attack('refused')
      }
    }
  }

  async stop(): Promise<void> {
    await stopQuietly(this.node)
    this.node = undefined
  }
}
