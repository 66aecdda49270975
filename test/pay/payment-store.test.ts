import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createPaymentStore } from '../../src/pay/payment-store.js'

const WRITER = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'pay', 'store-writer.js')

describe('payment store: group commits', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pb-store-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('writes made together share one batch, and each resolves only once its batch is written', async () => {
    const store = await createPaymentStore({ path: join(dir, 'together'), commitWindowMs: 50 })
    try {
      const writes = Array.from({ length: 20 }, (_, i) =>
        store.put(`k${i}`, i).then(async () => {
          assert.equal(store.batches, 1, 'resolved only after the batch that holds it was written')
          assert.equal(await store.get(`k${i}`), i)
        }),
      )
      await Promise.all(writes)
      assert.equal(store.batches, 1)
    } finally {
      await store.stop()
    }
  })

  it('under a steady stream of writes a batch starts at most once per window; a lone writer never waits', async () => {
    const store = await createPaymentStore({ path: join(dir, 'stream'), commitWindowMs: 100 })
    try {
      // A write every 2 ms for 600 ms (many leases ticking): ~300 writes, at most one batch per 100 ms.
      const acks: Array<Promise<void>> = []
      let n = 0
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          acks.push(store.put(`lease/${n % 10}`, n++))
          if (n === 300) {
            clearInterval(timer)
            resolve()
          }
        }, 2)
      })
      await Promise.all(acks)
      // ~7 windows, plus the first few writes (committed at once until the store sees that writes keep coming).
      assert.ok(store.batches <= 20, `${store.batches} batches for ${n} writes: they were grouped`)
      // One lease: a write every 250 ms is committed at once, not after the window.
      await new Promise((r) => setTimeout(r, 1_000)) // the stream is over
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 250))
        const t0 = performance.now()
        await store.put('lone', i)
        assert.ok(performance.now() - t0 < 90, 'a lone write does not wait for the window')
      }
    } finally {
      await store.stop()
    }
  })

  it('kill -9 during windowed group commits loses nothing that was acknowledged', async () => {
    const path = join(dir, 'killed')
    const child = spawn(process.execPath, [WRITER, path, '20', '20'], { stdio: ['ignore', 'pipe', 'pipe'] })
    const acked = new Map<string, number>()
    let lines = 0
    let rest = ''
    let err = ''
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString()
    })
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_c, signal) => resolve(signal)))
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        const text = rest + d.toString()
        const parts = text.split('\n')
        rest = parts.pop()!
        for (const line of parts) {
          const [, key, n] = line.split(' ')
          acked.set(key!, Math.max(acked.get(key!) ?? 0, Number(n)))
          lines++
        }
        // Killed mid-stream: writes are waiting for their window and in the batch being written.
        if (lines >= 2_000) resolve()
      })
      child.once('exit', () => reject(new Error(`writer exited early: ${err}`)))
    })
    child.kill('SIGKILL')
    assert.equal(await exited, 'SIGKILL')
    const store = await createPaymentStore({ path })
    try {
      assert.equal(acked.size, 20)
      for (const [key, n] of acked) {
        const stored = await store.get<{ ticks: number }>(key)
        assert.ok(stored != null && stored.ticks >= n, `${key}: acknowledged ${n}, stored ${stored?.ticks}`)
      }
    } finally {
      await store.stop()
    }
  })
})
