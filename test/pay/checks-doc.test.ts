import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { PAYMENT_CHECKS } from '../../src/pay/errors.js'
import { REPO_ROOT } from '../helpers/cli.js'

/** The `code` column of the table that follows `heading` in protocols/README.md. */
function codesUnder(readme: string, heading: string): string[] {
  const at = readme.indexOf(heading)
  assert.ok(at >= 0, `protocols/README.md has no "${heading}" table`)
  const rows = readme.slice(at).split('\n').slice(1)
  const codes: string[] = []
  for (const row of rows.slice(rows.findIndex((r) => r.startsWith('|')))) {
    if (!row.startsWith('|')) break
    const cells = row.split('|').map((c) => c.trim())
    if (!/^\d+$/.test(cells[1] ?? '')) continue // header and separator rows
    codes.push(cells[3]!.replace(/`/g, ''))
  }
  return codes
}

describe('the documented payment checks are the ones the code runs', () => {
  it("protocols/README.md lists each message kind's checks in PAYMENT_CHECKS order", async () => {
    const readme = await readFile(join(REPO_ROOT, 'protocols', 'README.md'), 'utf8')
    assert.deepEqual(codesUnder(readme, 'Commitment checks'), [...PAYMENT_CHECKS.commitment])
    assert.deepEqual(codesUnder(readme, 'Tick checks'), [...PAYMENT_CHECKS.tick])
    assert.deepEqual(codesUnder(readme, 'Voucher checks'), [...PAYMENT_CHECKS.voucher])
  })
})
