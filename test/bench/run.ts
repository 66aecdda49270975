import '../../src/polyfill.js'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * `npm run bench -- NAME [NAME...]`: runs test/bench/NAME.ts, whose `run()` prints its own table and returns the
 * results, and writes them to bench-results/NAME.json with the machine they were measured on.
 */
const SUITES = ['market', 'compute', 'pay', 'lease', 'differential', 'fuzz', 'swarm', 'reach', 'gateway', 'amino']

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const names = process.argv.slice(2)
if (names.length === 0 || names.some((n) => !SUITES.includes(n))) {
  process.stderr.write(`usage: npm run bench -- ${SUITES.join('|')} [...]\n`)
  process.exit(2)
}
for (const name of names) {
  const suite = (await import(`./${name}.js`)) as { run(): Promise<object> }
  const startedAt = new Date().toISOString()
  const results = await suite.run()
  const os = await import('node:os')
  const out = {
    suite: name,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: {
      node: process.version,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memoryBytes: os.totalmem(),
    },
    results,
  }
  const file = join(root, 'bench-results', `${name}.json`)
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, `${JSON.stringify(out, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`)
  process.stdout.write(`wrote ${file}\n`)
}
