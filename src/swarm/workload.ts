import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { discoverOffers } from '../market/discover.js'
import { RttBook } from '../market/rtt-book.js'
import type { SwarmContext, SwarmRenter } from './members.js'
import { failureReason } from './metrics.js'
import { createPhaseClock } from './phases.js'
import { INPUTS_PER_MODEL, type ScheduleEvent } from './schedule.js'

type RequestEvent = Extract<ScheduleEvent, { kind: 'request' }>

/** Float32 outputs agree when every element is within this of the reference (relative to its size). */
const TOLERANCE = 1e-3

/** A lookup gives up after this (success is an offer within {@link LOOKUP_GOAL_MS}). */
const LOOKUP_TIMEOUT_MS = 5_000

function floats(data: unknown): Float32Array | undefined {
  if (data instanceof Float32Array) return data
  if (data instanceof Uint8Array)
    return new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength))
  return undefined
}

/**
 * The renters' side of a run: each request is `client.infer()` with a price ceiling and a deadline, its result
 * checked against a reference computed once, locally, by the same onnxruntime (so a provider that returns wrong
 * results is caught by the run, though not yet by parkbench).
 */
export class Workload {
  private readonly references = new Map<string, Float32Array[]>()
  /** Each renter's round trips measured by its lookups, as its client keeps its own (see RttBook). */
  private readonly rttBooks = new Map<string, RttBook>()

  constructor(
    private readonly ctx: Pick<SwarmContext, 'scenario' | 'models' | 'pool' | 'metrics'>,
    private readonly modelsDir: string,
  ) {}

  /** The reference outputs, to hand to a member in another process. */
  exportReferences(): Array<[string, number[][]]> {
    return [...this.references].map(([key, outputs]) => [key, outputs.map((o) => [...o])])
  }

  /** Take references computed elsewhere (a member in a process of its own). */
  importReferences(references: Array<[string, number[][]]>): void {
    for (const [key, outputs] of references)
      this.references.set(
        key,
        outputs.map((o) => Float32Array.from(o)),
      )
  }

  /** Write the models and compute each one's reference outputs for its deterministic inputs. */
  async prepare(): Promise<void> {
    await mkdir(this.modelsDir, { recursive: true })
    for (const model of this.ctx.models.values()) {
      const path = join(this.modelsDir, `${model.name}.onnx`)
      await writeFile(path, model.bytes)
      for (let i = 0; i < INPUTS_PER_MODEL; i++) {
        const inputs = Object.entries(model.inputs(i)).map(([name, t]) => ({ name, ...t }))
        const result = await this.ctx.pool.run({
          sha256: model.sha256,
          path,
          sizeBytes: model.bytes.byteLength,
          inputs,
          outputNames: [],
        })
        this.references.set(
          `${model.name}/${i}`,
          result.outputs.map((o) => floats(o.data) ?? new Float32Array()),
        )
      }
    }
  }

  /** One scheduled request, measured and checked. */
  async request(renter: SwarmRenter, event: RequestEvent): Promise<void> {
    const { metrics, scenario } = this.ctx
    const client = renter.client
    const model = this.ctx.models.get(event.model)
    if (client === undefined || model === undefined) return
    const id = renter.spec.id
    metrics.requestSent(id)
    const started = performance.now()
    const phases = createPhaseClock()
    try {
      const result = await client.infer(
        {
          model: model.bytes,
          inputs: model.inputs(event.input),
          maxPricePerSecond: scenario.workload.maxPricePerSecond,
        },
        { signal: AbortSignal.timeout(scenario.workload.requestTimeoutMs), onProgress: phases.onProgress },
      )
      const spent = phases.done()
      const outputs = Object.values(result.outputs).map((t) => t.data)
      const right = this.matches(`${event.model}/${event.input}`, outputs)
      metrics.requestServed(id, performance.now() - started, right ? undefined : result.providerPeer, spent)
    } catch (err) {
      metrics.requestFailed(id, failureReason(err))
    }
  }

  /** One scheduled lookup: the time to the first verified offer for the model, within the 2 s the goal allows. */
  async lookup(renter: SwarmRenter, model: string, first: boolean): Promise<void> {
    const node = renter.node
    const sha256 = this.ctx.models.get(model)?.sha256
    if (node === undefined || sha256 === undefined) return
    const started = performance.now()
    let foundMs: number | undefined
    try {
      // The first verified offer is the answer: stop there, and fetch few offers at once (a probe, not a ranking).
      const query = { model: sha256, timeoutMs: LOOKUP_TIMEOUT_MS, limit: 1, concurrency: 4 }
      let rttBook = this.rttBooks.get(renter.spec.id)
      if (rttBook === undefined) {
        rttBook = new RttBook()
        this.rttBooks.set(renter.spec.id, rttBook)
      }
      for await (const _offer of discoverOffers({ node, rttBook }, query)) {
        foundMs = performance.now() - started
        break
      }
    } catch (err) {
      this.ctx.metrics.failure(`LOOKUP:${failureReason(err)}`)
    }
    const sinceStart = first && foundMs !== undefined ? performance.now() - renter.startedAt : undefined
    this.ctx.metrics.lookupDone(renter.spec.id, foundMs, sinceStart)
  }

  private matches(key: string, outputs: unknown[]): boolean {
    const expected = this.references.get(key)
    if (expected === undefined || expected.length !== outputs.length) return false
    return expected.every((want, i) => {
      const got = floats(outputs[i])
      if (got === undefined || got.length !== want.length) return false
      for (let j = 0; j < want.length; j++) {
        if (Math.abs(got[j]! - want[j]!) > TOLERANCE * Math.max(1, Math.abs(want[j]!))) return false
      }
      return true
    })
  }
}
