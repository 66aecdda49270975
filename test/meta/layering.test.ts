import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, it } from 'node:test'
import { REPO_ROOT } from '../helpers/cli.js'

const SRC = join(REPO_ROOT, 'src')

/**
 * What each folder of src/ may import, by the house rule (CONTRIBUTING.md): cli -> swarm -> (daemon, client) ->
 * (market, lease) -> (compute, pay) -> net. daemon and client are siblings and never import each other. Root files shared by
 * every layer (errors, data-dir, json, polyfill) import no folder; the package entries (index, dev) may import any.
 */
const MAY_IMPORT: Record<string, string[]> = {
  net: [],
  compute: ['net'],
  pay: ['net'],
  market: ['net', 'compute', 'pay'],
  lease: ['net', 'compute', 'pay'],
  swarm: ['net', 'compute', 'pay', 'market', 'lease', 'daemon', 'client'],
  daemon: ['net', 'compute', 'pay', 'market', 'lease'],
  client: ['net', 'compute', 'pay', 'market', 'lease'],
  gateway: ['net', 'compute', 'pay', 'market', 'lease', 'client'],
  cli: ['net', 'compute', 'pay', 'market', 'lease', 'swarm', 'daemon', 'client', 'gateway'],
}
const ENTRIES = new Set(['index.ts', 'dev.ts'])

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...(await sourceFiles(path)))
    else if (entry.name.endsWith('.ts')) out.push(path)
  }
  return out
}

/** The top folder of src/ a path is in, or '' for a file at the root of src/. */
function areaOf(path: string): string {
  const rel = relative(SRC, path).split('/')
  return rel.length > 1 ? rel[0]! : ''
}

describe('the layering of src/', () => {
  it('no folder imports one above it, and daemon and client never import each other', async () => {
    const wrong: string[] = []
    for (const file of await sourceFiles(SRC)) {
      const from = areaOf(file)
      const text = await readFile(file, 'utf8')
      for (const match of text.matchAll(/(?:from|import)\s+'(\.{1,2}\/[^']+)'/g)) {
        const target = resolve(dirname(file), match[1]!)
        const to = areaOf(target)
        if (to === from || to === '' || (from === '' && ENTRIES.has(relative(SRC, file)))) continue
        if (from === '' || !(MAY_IMPORT[from] ?? []).includes(to)) {
          wrong.push(`${relative(REPO_ROOT, file)} imports ${match[1]} (${from || 'src root'} -> ${to})`)
        }
      }
    }
    assert.deepEqual(wrong, [])
  })
})
