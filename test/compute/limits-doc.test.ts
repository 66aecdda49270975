import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  DEFAULT_JOB_MEMORY_BYTES,
  DEFAULT_MAX_CONCURRENT_TRANSFERS,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_MODEL_BYTES,
  DEFAULT_MAX_REQUEST_MEMORY_BYTES,
  DEFAULT_MAX_TRANSFERS_PER_PEER,
  MAX_MODEL_CHUNK_BYTES,
  MAX_MODEL_CONTROL_BYTES,
  MODEL_CLOSE_LINGER_MS,
  MODEL_REQUEST_TIMEOUT_MS,
  WORKER_BASE_BYTES,
} from '../../src/compute/index.js'
import { MAX_TENSOR_RANK } from '../../src/compute/tensor.js'
import { MAX_MESSAGE_CHARS, MAX_QUOTED_CHARS } from '../../src/compute/text.js'
import { OFFERABLE_LIMITS } from '../../src/market/offerable.js'
import { REPO_ROOT } from './helpers.js'

/** The row of the compute Limits table whose first cell starts with `limit`. */
function row(readme: string, limit: string): string {
  const table = readme.slice(readme.indexOf('### Limits (defaults, all set in `ComputeInit`)'))
  const lines = table.split('\n')
  const found =
    lines.find((line) => line.startsWith(`| ${limit} |`)) ?? lines.find((line) => line.startsWith(`| ${limit}`))
  assert.ok(found !== undefined, `no Limits row "${limit}"`)
  return found
}

const size = (bytes: number): string =>
  bytes % 2 ** 30 === 0
    ? `${bytes / 2 ** 30} GiB`
    : bytes % 2 ** 20 === 0
      ? `${bytes / 2 ** 20} MiB`
      : `${bytes / 1024} KiB`

describe('the compute limits in protocols/README.md are the ones the code enforces', () => {
  it('each row names the default the code has', async () => {
    const readme = await readFile(join(REPO_ROOT, 'protocols', 'README.md'), 'utf8')
    const has = (limit: string, ...texts: string[]): void => {
      const line = row(readme, limit)
      for (const text of texts) assert.ok(line.includes(text), `"${limit}" row lacks "${text}": ${line}`)
    }
    has('infer request / response frame', size(DEFAULT_MAX_MESSAGE_BYTES))
    has('bytes of those requests', size(DEFAULT_MAX_REQUEST_MEMORY_BYTES))
    has('tensor dims on the wire / in a stored model', `${MAX_TENSOR_RANK} / ${OFFERABLE_LIMITS.maxDims}`)
    has('reply message', MAX_MESSAGE_CHARS.toLocaleString('en'), `${MAX_QUOTED_CHARS}`)
    has('model size', size(DEFAULT_MAX_MODEL_BYTES))
    has(
      'models stored',
      `${OFFERABLE_LIMITS.maxModels} / ${size(OFFERABLE_LIMITS.maxListBytes)}`,
      size(OFFERABLE_LIMITS.maxEntryBytes),
    )
    has('inputs, outputs of a stored model', `${OFFERABLE_LIMITS.maxTensorsPerModel}`)
    has('model request / reply frame', size(MAX_MODEL_CONTROL_BYTES))
    has('model request', `${MODEL_REQUEST_TIMEOUT_MS / 1000} s`)
    has('model chunk frame', size(MAX_MODEL_CHUNK_BYTES))
    has(
      'model transfers at once',
      `${DEFAULT_MAX_CONCURRENT_TRANSFERS} in all`,
      `${DEFAULT_MAX_TRANSFERS_PER_PEER} per peer`,
    )
    has('a model stream the peer keeps open', `${MODEL_CLOSE_LINGER_MS / 1000} s`)
    const memory = readme.slice(readme.indexOf('### Memory'), readme.indexOf('### Statuses'))
    assert.ok(
      memory.includes(`| per job, above its worker's memory when its run starts | ${size(DEFAULT_JOB_MEMORY_BYTES)}`),
    )
    assert.ok(memory.includes(`| per worker process | ${size(WORKER_BASE_BYTES)} +`))
  })
})
