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

  it('writes inside one window share one batch, and each resolves only once its batch is written', async () => {
    const store = await createPaymentStore({ path: join(dir, 'window'), commitWindowMs: 50 })
    try {
      await store.put('first', 1)
      assert.equal(store.batches, 1)
      // Within 50 ms of that batch: these wait for the window and go down together.
      const writes = Array.from({ length: 20 }, (_, i) =>
        store.put(`k${i}`, i).then(async () => {
          assert.equal(store.batches, 2, 'resolved only after the batch that holds it was written')
          assert.equal(await store.get(`k${i}`), i)
        }),
      )
      await new Promise((r) => setTimeout(r, 10))
      assert.equal(store.batches, 1, 'no batch before the window ends')
      await Promise.all(writes)
      assert.equal(store.batches, 2)
    } finally {
      await store.stop()
    }
  })

  it('a write after a quiet spell is committed at once; one right after a batch waits for the window', async () => {
    const store = await createPaymentStore({ path: join(dir, 'quiet'), commitWindowMs: 300 })
    try {
      const timed = async (write: Promise<void>): Promise<number> => {
        const t0 = performance.now()
        await write
        return performance.now() - t0
      }
      assert.ok((await timed(store.put('a', 1))) < 250, 'the first write does not wait')
      assert.ok((await timed(store.put('b', 2))) >= 200, 'a write inside the window waits for it')
      await new Promise((r) => setTimeout(r, 350))
      assert.ok((await timed(store.put('c', 3))) < 250, 'after a quiet spell a write does not wait')
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
