import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { InvalidReportError, ReportError, ReportNotFoundError } from '../../src/swarm/errors.js'
import { REPORT_HTML, REPORT_JSON, readReport, writeReport } from '../../src/swarm/report-files.js'
import { headlineRows, hostVerdict } from '../../src/swarm/report-headline.js'
import { makeEmptyReport, makeReport } from './report-fixture.js'

describe('report files', () => {
  let dir: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pb-report-files-'))
  })

  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('writes report.json and a self-contained report.html that read back as the same report', async () => {
    const report = makeReport()
    const runDir = join(dir, 'runs', 'x')
    const { jsonPath, htmlPath } = await writeReport(runDir, report)
    assert.equal(jsonPath, join(runDir, REPORT_JSON))
    assert.equal(htmlPath, join(runDir, REPORT_HTML))
    assert.deepEqual(await readReport(runDir), report)
    const html = await readFile(htmlPath, 'utf8')
    assert.ok(html.includes('id="report-data"'))
    // uPlot's code is inlined, the page loads no other file, and its policy forbids loading any.
    assert.ok(html.includes('uPlot'))
    assert.equal(/<(script|link|img|iframe)\b[^>]*\b(src|href)=/i.test(html), false)
    assert.ok(html.includes("default-src 'none'"))
  })

  it('round-trips a report with no samples', async () => {
    const runDir = join(dir, 'empty')
    await writeReport(runDir, makeEmptyReport())
    assert.deepEqual(await readReport(runDir), makeEmptyReport())
  })

  it('reports a folder without report.json as REPORT_NOT_FOUND', async () => {
    await assert.rejects(readReport(join(dir, 'nothing-here')), (err: unknown) => {
      assert.ok(err instanceof ReportNotFoundError)
      assert.ok(err instanceof ReportError)
      assert.equal(err.code, 'REPORT_NOT_FOUND')
      return true
    })
  })

  it('reports a report.json that is not JSON, not a report, or of another version as REPORT_INVALID', async () => {
    const report = makeReport()
    const broken: Array<[string, string]> = [
      ['not-json', '{"version": 1,'],
      ['not-an-object', '[1, 2, 3]'],
      ['version-2', JSON.stringify({ ...report, version: 2 })],
      ['float-money', JSON.stringify({ ...report, hostile: { ...report.hostile, wrongResultEarned: 3.1e13 } })],
      ['short-series', JSON.stringify({ ...report, series: { ...report.series, activeLeases: [1, 2] } })],
      ['bad-cdf', JSON.stringify({ ...report, inferLatencyMs: { ...report.inferLatencyMs, cdf: [[1]] } })],
    ]
    for (const [name, text] of broken) {
      const runDir = join(dir, name)
      await writeReport(runDir, report)
      await writeFile(join(runDir, REPORT_JSON), text)
      await assert.rejects(readReport(runDir), (err: unknown) => {
        assert.ok(err instanceof InvalidReportError, name)
        assert.equal(err.code, 'REPORT_INVALID')
        return true
      })
    }
  })

  it("gives the headline as label/value rows with the run's numbers", () => {
    const report = makeReport()
    const rows = new Map(headlineRows(report).map((row) => [row.key, row]))
    assert.deepEqual(
      [...rows.keys()],
      [
        'result',
        'mode',
        'nodes',
        'duration',
        'host',
        'lookup-success',
        'requests',
        'leases-per-second',
        'payments-per-second',
        'time-to-first-paid-result',
        'first-paid-phases',
        'failovers',
        'money-conserved',
      ],
    )
    const { p50, p95, p99 } = report.timeToFirstPaidResultMs
    assert.ok(rows.get('time-to-first-paid-result')!.value.startsWith(`${p50} ms / ${p95} ms / ${p99} ms`))
    assert.ok(rows.get('lookup-success')!.value.startsWith('97.5%'))
    assert.ok(rows.get('requests')!.value.startsWith('4790 / 20'))
    assert.equal(rows.get('money-conserved')!.value, 'yes')
    assert.ok(rows.get('result')!.value.startsWith('failed'))
    assert.equal(rows.get('failovers')!.value, '5')
  })

  it('says whether the host kept up: an event loop delayed past 250 ms at p99, or samples an interval late, did not', () => {
    const calm = makeReport()
    assert.deepEqual(hostVerdict(calm), { keptUp: true, eventLoopP99Ms: 12.5, sampleLateP95Ms: 0 })
    assert.ok(
      headlineRows(calm)
        .find((r) => r.key === 'host')!
        .value.startsWith('kept up'),
    )

    const busyLoop = makeReport()
    busyLoop.resources.eventLoopP99Ms = 800
    assert.equal(hostVerdict(busyLoop).keptUp, false)
    assert.ok(
      headlineRows(busyLoop)
        .find((r) => r.key === 'host')!
        .value.startsWith('FELL BEHIND'),
    )

    // Samples asked every second came every three: two seconds late each.
    const lateSamples = makeReport()
    lateSamples.series.tMs = lateSamples.series.tMs.map((_, i) => i * 3000)
    assert.deepEqual(hostVerdict(lateSamples), { keptUp: false, eventLoopP99Ms: 12.5, sampleLateP95Ms: 2000 })
    // The same spacing is on time when the scenario asked for it.
    lateSamples.scenario = { ...(lateSamples.scenario as object), sampleEveryMs: 3000 }
    assert.equal(hostVerdict(lateSamples).keptUp, true)
  })
})
