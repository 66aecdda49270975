import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { pathToFileURL } from 'node:url'
import type { Browser, Page } from 'puppeteer-core'
import { formatMs } from '../../src/swarm/report-headline.js'
import { renderReportHtml } from '../../src/swarm/report-html.js'
import type { SwarmReport } from '../../src/swarm/report-types.js'
import { launchChromium, requireChromium } from '../helpers/chromium.js'
import { makeEmptyReport, makeReport } from './report-fixture.js'

const PAGE_DEADLINE_MS = 10_000

const CDF_PLOTS = ['plot-ttfo-cdf', 'plot-ttfpr-cdf', 'plot-infer-cdf']
const SERIES_PLOTS = [
  'plot-nodes-online',
  'plot-active-leases',
  'plot-payments-per-second',
  'plot-value-at-risk',
  'plot-rss',
]

// Checked before any test is declared, so a machine without chromium fails this file (never skips it).
await requireChromium()

interface OpenedReport {
  page: Page
  /** Console errors and uncaught page errors, in order. */
  errors: string[]
  /** Every URL the page asked for. */
  requests: string[]
}

interface PlotState {
  canvases: number
  points: string | null
  error: string | null
  noSamplesNote: boolean
}

describe('report.html in headless Chromium', () => {
  let browser: Browser | undefined
  let dir: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pb-report-html-'))
    browser = await launchChromium({ timeoutMs: PAGE_DEADLINE_MS })
  })

  after(async () => {
    await browser?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  async function openReport(report: SwarmReport, name: string): Promise<OpenedReport> {
    const file = join(dir, `${name}.html`)
    await writeFile(file, renderReportHtml(report))
    const page = await browser!.newPage()
    const errors: string[] = []
    const requests: string[] = []
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(`console: ${message.text()}`)
    })
    page.on('pageerror', (err) => {
      errors.push(`page: ${String(err)}`)
    })
    page.on('request', (request) => {
      requests.push(request.url())
    })
    await page.setViewport({ width: 1280, height: 900 })
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load', timeout: PAGE_DEADLINE_MS })
    // A string, not a function: this project's TypeScript has no DOM types, and the page sets this when it is drawn.
    await page.waitForFunction("document.documentElement.dataset.rendered === 'true'", { timeout: PAGE_DEADLINE_MS })
    return { page, errors, requests }
  }

  async function plotState(page: Page, id: string): Promise<PlotState | undefined> {
    const states = await page.$$eval(`#${id}`, (elements) =>
      elements.map((element) => ({
        canvases: element.querySelectorAll('canvas').length,
        points: element.getAttribute('data-points'),
        error: element.getAttribute('data-error'),
        noSamplesNote: element.querySelector('.no-samples') !== null,
      })),
    )
    assert.equal(states.length, 1, `one #${id} on the page`)
    return states[0]
  }

  function text(page: Page, selector: string): Promise<string> {
    return page.$eval(selector, (element) => element.textContent ?? '')
  }

  it('loads from file:// with no errors and asks for nothing but its own file', async () => {
    const { errors, requests } = await openReport(makeReport(), 'full-load')
    assert.deepEqual(errors, [])
    assert.equal(requests.length, 1)
    assert.match(requests[0]!, /^file:\/\/.*full-load\.html$/)
  })

  it("draws every plot with a canvas and the run's number of points", async () => {
    const report = makeReport({ cdfPoints: 120, seriesPoints: 60 })
    const { page, errors } = await openReport(report, 'full-plots')
    for (const [ids, expected] of [
      [CDF_PLOTS, report.timeToFirstPaidResultMs.cdf.length],
      [SERIES_PLOTS, report.series.tMs.length],
    ] as const) {
      for (const id of ids) {
        const state = await plotState(page, id)
        assert.ok(state !== undefined)
        assert.equal(state.error, null, `#${id} drew without an error`)
        assert.equal(state.canvases, 1, `#${id} has a canvas`)
        assert.equal(state.points, String(expected), `#${id} drew ${expected} points`)
        assert.equal(state.noSamplesNote, false)
      }
    }
    assert.equal(report.timeToFirstPaidResultMs.cdf.length, 120)
    assert.equal(report.series.tMs.length, 60)
    assert.deepEqual(errors, [])
  })

  it('shows the headline, the broken invariant as broken and the money to the wei', async () => {
    const report = makeReport()
    const { page } = await openReport(report, 'full-tables')
    const p95 = report.timeToFirstPaidResultMs.p95
    assert.ok(p95 !== null && Number.isInteger(p95))
    assert.ok((await text(page, 'tr[data-key="time-to-first-paid-result"] td')).includes(` ${p95} ms `))
    assert.ok((await text(page, 'tr[data-key="lookup-success"] td')).startsWith('97.5%'))
    assert.ok((await text(page, 'tr[data-key="result"] td')).startsWith('failed'))
    // Where the first paid results' time went: one row a phase, with the report's p50, p95 and max.
    const phases = report.timeToFirstPaidResultPhasesMs!
    const phaseRows = await page.$$eval('#first-paid-phases tbody tr', (rows) =>
      rows.map((row) => [...row.querySelectorAll('td')].slice(1).map((td) => td.textContent)),
    )
    assert.deepEqual(
      phaseRows,
      (['discovery', 'channel', 'modelPush', 'job', 'other'] as const).map((k) =>
        [phases[k].p50, phases[k].p95, phases[k].max].map((ms) => formatMs(ms)),
      ),
    )
    assert.ok(
      (await text(page, 'tr[data-key="first-paid-phases"] td')).startsWith(
        `discovery ${formatMs(phases.discovery.p50)}`,
      ),
    )

    const broken = await page.$eval('li[data-invariant="overpay-within-one-tick"]', (element) => ({
      className: element.className,
      badge: element.querySelector('.badge')?.textContent,
      markup: element.querySelectorAll('b').length,
    }))
    assert.deepEqual(broken, { className: 'broken', badge: 'broken', markup: 0 })
    assert.equal(await page.$eval('li[data-invariant="money-conserved"]', (element) => element.className), 'ok')

    const money = await text(page, '#money')
    assert.ok(money.includes('4200000000123456'))
    assert.ok(money.includes('5799999999876544'))
    assert.ok((await text(page, '#failures')).includes('WEIRD<CODE>'))
  })

  it('shows report strings with <script> as text and runs none of them', async () => {
    const report = makeReport()
    const { page, errors } = await openReport(report, 'full-hostile')
    const scenario = await text(page, '#scenario')
    assert.ok(scenario.includes('<script>window.__reportInjected = true</script>'))
    assert.ok(scenario.includes('</script><script>'))
    assert.equal(await page.evaluate(() => (globalThis as { __reportInjected?: boolean }).__reportInjected), undefined)
    // The embedded data, the chart library and the page's script; no element from the report's text.
    assert.equal(await page.$$eval('script', (scripts) => scripts.length), 3)
    assert.equal(await page.$$eval('img', (images) => images.length), 0)
    // The embedded JSON survives the escaping whole.
    const embedded = await page.$eval('#report-data', (element) => JSON.parse(element.textContent ?? 'null'))
    assert.deepEqual(embedded, report)
    assert.deepEqual(errors, [])
  })

  it('enforces its Content-Security-Policy: a script added to the page that is not one of its own does not run', async () => {
    const { page, errors } = await openReport(makeReport(), 'full-csp')
    await page.evaluate(`{
      const script = document.createElement('script')
      script.textContent = 'window.__notOurs = true'
      document.body.append(script)
    }`)
    assert.equal(await page.evaluate(() => (globalThis as { __notOurs?: boolean }).__notOurs), undefined)
    // The browser reports the refusal on the console, which reaches us asynchronously.
    const deadline = Date.now() + 2000
    while (errors.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    assert.equal(errors.length, 1)
    assert.match(errors[0]!, /Content Security Policy/)
  })

  it('draws empty distributions and series as plots of 0 points with a note', async () => {
    const { page, errors } = await openReport(makeEmptyReport(), 'empty')
    for (const id of [...CDF_PLOTS, ...SERIES_PLOTS]) {
      const state = await plotState(page, id)
      assert.deepEqual(state, { canvases: 1, points: '0', error: null, noSamplesNote: true }, `#${id}`)
    }
    assert.ok((await text(page, 'tr[data-key="time-to-first-paid-result"] td')).startsWith('n/a / n/a / n/a'))
    assert.ok((await text(page, 'tr[data-key="lookup-success"] td')).startsWith('n/a'))
    assert.deepEqual(errors, [])
  })
})
