import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { toJson } from '../json.js'
import { FIRST_PAID_PHASES, type FirstPaidPhase } from './phases.js'
import { formatMiB, formatMs, headlineRows } from './report-headline.js'
import { REPORT_PAGE_SCRIPT } from './report-script.js'
import { REPORT_PAGE_STYLE } from './report-style.js'
import type { Distribution, SwarmReport } from './report-types.js'

interface ChartAssets {
  script: string
  style: string
}

let chartAssets: ChartAssets | undefined

/**
 * uPlot's JS and CSS, read from wherever node resolves the package (parkbench's own node_modules, or the
 * dependent project's when parkbench is installed as a dependency), once per process.
 */
function loadChartAssets(): ChartAssets {
  if (chartAssets === undefined) {
    const require = createRequire(import.meta.url)
    chartAssets = {
      script: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
      style: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
    }
  }
  return chartAssets
}

/** Text from the report (it is data) made safe inside HTML text and quoted attributes. */
export function escapeHtml(value: unknown): string {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;')
}

/** JSON that can sit inside a `<script type="application/json">`: no `<` can close the element. */
function jsonForScript(value: unknown): string {
  return toJson(value).replaceAll('<', '\\u003c')
}

/** Text inlined in a `<script>` or `<style>` element must not contain its closing tag. */
function assertNoClosingTag(text: string, tag: string): string {
  if (text.toLowerCase().includes(`</${tag}`)) throw new Error(`inlined ${tag} contains </${tag}>`)
  return text
}

function cspHash(script: string): string {
  return `'sha256-${createHash('sha256').update(script, 'utf8').digest('base64')}'`
}

/** A long id (channel, peer, address) shortened for a table cell; the full text is its tooltip. */
function shortId(id: string): string {
  const text = escapeHtml(id)
  if (id.length <= 16) return `<code>${text}</code>`
  return `<code title="${text}">${escapeHtml(`${id.slice(0, 8)}…${id.slice(-4)}`)}</code>`
}

interface Column {
  label: string
  numeric?: boolean
}

/** A table of cells that are already HTML (each built with escapeHtml or shortId). */
function table(columns: Column[], rows: string[][], options: { id?: string; foot?: string[]; empty?: string } = {}) {
  const id = options.id === undefined ? '' : ` id="${options.id}"`
  const cell = (tag: string, html: string, i: number) =>
    `<${tag}${columns[i]?.numeric === true ? ' class="num"' : ''}>${html}</${tag}>`
  const head = columns.map((column, i) => cell('th', escapeHtml(column.label), i)).join('')
  const body =
    rows.length === 0
      ? `<tr><td colspan="${columns.length}" class="none">${escapeHtml(options.empty ?? 'none')}</td></tr>`
      : rows.map((row) => `<tr>${row.map((html, i) => cell('td', html, i)).join('')}</tr>`).join('\n')
  const foot =
    options.foot === undefined
      ? ''
      : `<tfoot><tr>${options.foot.map((html, i) => cell('td', html, i)).join('')}</tr></tfoot>`
  return `<div class="table-wrap"><table${id}><thead><tr>${head}</tr></thead><tbody>${body}</tbody>${foot}</table></div>`
}

function badge(ok: boolean, yes = 'ok', no = 'broken'): string {
  return `<span class="badge ${ok ? 'ok' : 'broken'}">${ok ? yes : no}</span>`
}

function headlineSection(report: SwarmReport): string {
  const rows = headlineRows(report)
    .map(
      (row) =>
        `<tr data-key="${escapeHtml(row.key)}"><th>${escapeHtml(row.label)}</th><td>${escapeHtml(row.value)}</td></tr>`,
    )
    .join('\n')
  return `<section><h2>Headline</h2><table id="headline" class="headline"><tbody>${rows}</tbody></table></section>`
}

function invariantsSection(report: SwarmReport): string {
  const items = report.invariants
    .map(
      (invariant) =>
        `<li class="${invariant.ok ? 'ok' : 'broken'}" data-invariant="${escapeHtml(invariant.name)}">` +
        `${badge(invariant.ok)} <code>${escapeHtml(invariant.name)}</code> <span class="detail">${escapeHtml(invariant.detail)}</span></li>`,
    )
    .join('\n')
  const list = items === '' ? '<p class="none">No invariants were checked.</p>' : `<ul id="invariants">${items}</ul>`
  return `<section><h2>Invariants</h2>${list}</section>`
}

function plot(id: string, title: string, note = ''): string {
  const sub = note === '' ? '' : ` <span class="unit">${escapeHtml(note)}</span>`
  return `<figure><figcaption>${escapeHtml(title)}${sub}</figcaption><div class="plot" id="${id}"></div></figure>`
}

function distributionNote(distribution: Distribution): string {
  return `${distribution.count} samples; p50 ${formatMs(distribution.p50)}, p95 ${formatMs(distribution.p95)}, max ${formatMs(distribution.max)}`
}

const PHASE_LABELS: Record<FirstPaidPhase, string> = {
  discovery: 'discovery (to the first offers)',
  channel: 'payment channel opened on-chain',
  modelPush: 'model pushed to the provider',
  job: 'the job (transfer, queue, inference)',
  other: 'other (lease negotiation, refusals, failovers)',
}

/** Where the first paid results' time went, by phase (reports before it existed have none). */
function phasesSection(report: SwarmReport): string {
  const phases = report.timeToFirstPaidResultPhasesMs
  if (phases === undefined) return ''
  const rows = FIRST_PAID_PHASES.map((k) => [
    escapeHtml(PHASE_LABELS[k]),
    escapeHtml(formatMs(phases[k].p50)),
    escapeHtml(formatMs(phases[k].p95)),
    escapeHtml(formatMs(phases[k].max)),
  ])
  const columns = [
    { label: 'phase' },
    { label: 'p50', numeric: true },
    { label: 'p95', numeric: true },
    { label: 'max', numeric: true },
  ]
  return `<section><h2>Time to first paid result, by phase</h2>${table(columns, rows, { id: 'first-paid-phases' })}<p class="note">Each renter's first paid request, split by the client's progress events (src/swarm/phases.ts); ${phases.job.count} requests. Percentiles are per phase, so they do not add up to the total's.</p></section>`
}

function plotsSection(report: SwarmReport): string {
  return `<section><h2>Distributions (CDF)</h2><div class="plots">
${plot('plot-ttfo-cdf', 'Time to first offer', distributionNote(report.timeToFirstOfferMs))}
${plot('plot-ttfpr-cdf', 'Time to first paid result', distributionNote(report.timeToFirstPaidResultMs))}
${plot('plot-infer-cdf', 'Inference latency (every paid request)', distributionNote(report.inferLatencyMs))}
</div></section>
<section><h2>Over time</h2><div class="plots">
${plot('plot-nodes-online', 'Nodes online')}
${plot('plot-active-leases', 'Active leases')}
${plot('plot-payments-per-second', 'Payments per second')}
${plot('plot-value-at-risk', 'Value at risk', 'gwei (1 gwei = 10⁹ wei)')}
${plot('plot-rss', 'Resident memory of the run', 'MiB')}
</div></section>`
}

function countRows(counts: Record<string, number>): string[][] {
  return Object.entries(counts)
    .sort(([, a], [, b]) => b - a)
    .map(([key, count]) => [`<code>${escapeHtml(key)}</code>`, escapeHtml(count)])
}

function outcomesSection(report: SwarmReport): string {
  const { leases } = report
  return `<section><h2>Failures and leases</h2><div class="pair">
<div><h3>Failures by code</h3>${table([{ label: 'code' }, { label: 'count', numeric: true }], countRows(report.failures), { id: 'failures', empty: 'no failures' })}</div>
<div><h3>Leases by end reason</h3>${table([{ label: 'end reason' }, { label: 'leases', numeric: true }], countRows(leases.byEndReason), { id: 'lease-end-reasons', empty: 'no lease ended' })}
<p class="note">${escapeHtml(`${leases.started} started, ${leases.ended} ended`)}</p></div>
</div></section>`
}

function latencySection(report: SwarmReport): string {
  const columns = [
    { label: 'from' },
    { label: 'to' },
    { label: 'configured RTT', numeric: true },
    { label: 'measured p50', numeric: true },
    { label: 'measured p95', numeric: true },
    { label: 'samples', numeric: true },
  ]
  const rows = report.latency.pairs.map((pair) => [
    escapeHtml(pair.from),
    escapeHtml(pair.to),
    escapeHtml(formatMs(pair.configuredRttMs)),
    escapeHtml(formatMs(pair.measuredRttP50Ms)),
    escapeHtml(formatMs(pair.measuredRttP95Ms)),
    escapeHtml(pair.samples),
  ])
  return `<section><h2>Latency: configured vs measured round trip, per region pair</h2>${table(columns, rows, { id: 'latency', empty: 'no latency matrix' })}</section>`
}

function moneySection(report: SwarmReport): string {
  const amounts = ['deposited', 'authorised', 'acknowledged', 'settled', 'refunded', 'held'] as const
  const columns = [
    { label: 'channel' },
    { label: 'renter' },
    { label: 'provider' },
    ...amounts.map((label) => ({ label, numeric: true })),
    { label: 'books' },
  ]
  const rows = report.money.channels.map((channel) => [
    shortId(channel.channelId),
    shortId(channel.renter),
    shortId(channel.provider),
    ...amounts.map((key) => escapeHtml(channel[key])),
    badge(channel.ok, 'ok', 'off'),
  ])
  const foot = ['total', '', '', ...amounts.map((key) => escapeHtml(report.money.total[key])), '']
  return `<section><h2>Money ${badge(report.money.conserved, 'conserved', 'not conserved')}</h2>
<p class="note">Amounts in wei, exact.</p>
${table(columns, rows, { id: 'money', foot, empty: 'no channels' })}</section>`
}

function hostileSection(report: SwarmReport): string {
  const { hostile } = report
  const rows = [
    ['Providers returning wrong results', escapeHtml(hostile.wrongResultProviders)],
    ['Wrong results served', escapeHtml(hostile.wrongResultsServed)],
    ['Earned by wrong results (wei)', escapeHtml(hostile.wrongResultEarned)],
    ['Jobs hostile renters got free', escapeHtml(hostile.freeJobs)],
  ]
  return `<section><h2>Hostile nodes</h2>${table([{ label: 'what' }, { label: 'value', numeric: true }], rows, { id: 'hostile' })}
<p class="note">Results are not verified: what a wrong-result provider earns is the cost of that.</p></section>`
}

function resourcesSection(report: SwarmReport): string {
  const { resources } = report
  const rows = [
    ['Resident memory per node (at peak)', escapeHtml(formatMiB(resources.rssBytesPerNode))],
    [
      'CPU per node-second online',
      escapeHtml(resources.cpuMsPerNodeSecond === null ? 'n/a' : `${resources.cpuMsPerNodeSecond.toFixed(1)} ms`),
    ],
    ['Event loop delay p99', escapeHtml(formatMs(resources.eventLoopP99Ms))],
    ['Node flags', escapeHtml(resources.nodeFlags === undefined ? 'n/a' : resources.nodeFlags.join(' ') || 'none')],
  ]
  return `<section><h2>Resources</h2>${table([{ label: 'what' }, { label: 'value', numeric: true }], rows, { id: 'resources' })}</section>`
}

function reproduceSection(report: SwarmReport): string {
  const substitutions =
    report.substitutions.length === 0
      ? '<p class="none">None: every part is the real one.</p>'
      : `<ul id="substitutions">${report.substitutions.map((text) => `<li>${escapeHtml(text)}</li>`).join('\n')}</ul>`
  return `<section><h2>What stands in for a real part</h2>${substitutions}</section>
<section><h2>Scenario</h2><p>Seed <code id="seed">${escapeHtml(report.seed)}</code>: this scenario and seed reproduce the schedule.</p>
<pre id="scenario">${escapeHtml(toJson(report.scenario) ?? 'null')}</pre></section>`
}

/**
 * The run's report as one self-contained HTML page: uPlot's JS and CSS and the report itself are inlined, so the
 * file opens from disk with no network. A Content-Security-Policy allows only the page's own two scripts, by
 * hash, so even text that escaped escaping could not run.
 *
 * @example
 * ```ts
 * await writeFile(join(dir, 'report.html'), renderReportHtml(report))
 * ```
 */
export function renderReportHtml(report: SwarmReport): string {
  const assets = loadChartAssets()
  const chartScript = assertNoClosingTag(assets.script, 'script')
  const pageScript = assertNoClosingTag(REPORT_PAGE_SCRIPT, 'script')
  // Our own text (hashes are base64), not the report's: no escaping needed inside the double-quoted attribute.
  const csp = `default-src 'none'; script-src ${cspHash(chartScript)} ${cspHash(pageScript)}; style-src 'unsafe-inline'; img-src data:`
  const title = `Swarm run ${report.startedAt}: ${report.ok ? 'ok' : 'failed'}`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${assertNoClosingTag(assets.style, 'style')}</style>
<style>${REPORT_PAGE_STYLE}</style>
</head>
<body>
<header><h1>Swarm run ${badge(report.ok, 'ok', 'failed')}</h1>
<p class="note">Started ${escapeHtml(report.startedAt)}, ${escapeHtml(report.mode)}. parkbench swarm report, version ${escapeHtml(report.version)}.</p></header>
<main>
${headlineSection(report)}
${invariantsSection(report)}
${plotsSection(report)}
${phasesSection(report)}
${outcomesSection(report)}
${latencySection(report)}
${moneySection(report)}
${hostileSection(report)}
${resourcesSection(report)}
${reproduceSection(report)}
</main>
<script type="application/json" id="report-data">${jsonForScript(report)}</script>
<script>${chartScript}</script>
<script>${pageScript}</script>
</body>
</html>
`
}
