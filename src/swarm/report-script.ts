/**
 * The script report.html runs to draw its plots with uPlot, from the report embedded in the page
 * (`#report-data`). Plain browser JavaScript kept as text: the page has no build step, and this project's
 * TypeScript does not target the DOM. After each plot is drawn its element gets `data-points` (the number of
 * x values it drew), and once all are drawn `<html>` gets `data-rendered="true"`, so a test can wait for both.
 */
export const REPORT_PAGE_SCRIPT = `(() => {
  'use strict'
  const report = JSON.parse(document.getElementById('report-data').textContent)
  const GWEI = 1000000000n
  const COLORS = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed']

  /** A decimal string of wei as a Number of gwei (exact to the gwei, close enough below for a plot). */
  const weiToGwei = (text) => {
    try {
      const wei = BigInt(text)
      return Number(wei / GWEI) + Number(wei % GWEI) / 1e9
    } catch {
      return null
    }
  }
  const numbers = (values) => (Array.isArray(values) ? values.map((v) => (typeof v === 'number' ? v : null)) : [])
  const cdfData = (distribution) => {
    const cdf = Array.isArray(distribution && distribution.cdf) ? distribution.cdf : []
    return [cdf.map((point) => point[0]), cdf.map((point) => point[1])]
  }
  const series = report.series || {}
  const seconds = numbers(series.tMs).map((t) => (t === null ? null : t / 1000))
  const mib = numbers(series.rssBytes).map((b) => (b === null ? null : b / 1024 / 1024))
  const gwei = (values) => (Array.isArray(values) ? values.map(weiToGwei) : [])

  const cdf = (id, distribution, label) => ({
    id,
    data: cdfData(distribution),
    x: 'ms',
    y: 'fraction of samples ≤ x',
    yRange: [0, 1],
    lines: [{ label, stepped: true }],
  })
  const overTime = (id, y, lines) => ({ id, data: [seconds, ...lines.map((line) => line.values)], x: 's since start', y, lines })

  const PLOTS = [
    cdf('plot-ttfo-cdf', report.timeToFirstOfferMs, 'time to first offer'),
    cdf('plot-ttfpr-cdf', report.timeToFirstPaidResultMs, 'time to first paid result'),
    cdf('plot-infer-cdf', report.inferLatencyMs, 'infer latency'),
    overTime('plot-nodes-online', 'nodes', [{ label: 'nodes online', values: numbers(series.nodesOnline) }]),
    overTime('plot-active-leases', 'leases', [{ label: 'active leases', values: numbers(series.activeLeases) }]),
    overTime('plot-payments-per-second', 'payments/s', [
      { label: 'payments per second', values: numbers(series.paymentsPerSecond) },
    ]),
    overTime('plot-value-at-risk', 'gwei', [
      { label: 'providers (served, unpaid)', values: gwei(series.valueAtRiskProviders) },
      { label: 'renters (paid, unserved)', values: gwei(series.valueAtRiskRenters) },
    ]),
    overTime('plot-rss', 'MiB', [{ label: 'resident memory', values: mib }]),
  ]

  const draw = (plot) => {
    const element = document.getElementById(plot.id)
    const points = plot.data[0].length
    const options = {
      width: Math.max(300, element.clientWidth),
      height: 220,
      scales: { x: { time: false }, y: plot.yRange ? { range: plot.yRange } : {} },
      axes: [
        { label: plot.x, stroke: '#444', grid: { stroke: '#eee' } },
        { label: plot.y, stroke: '#444', grid: { stroke: '#eee' }, size: 64 },
      ],
      series: [
        { label: plot.x },
        ...plot.lines.map((line, i) => ({
          label: line.label,
          stroke: COLORS[i % COLORS.length],
          width: 2,
          points: { show: false },
          ...(line.stepped ? { paths: uPlot.paths.stepped({ align: 1 }) } : {}),
        })),
      ],
    }
    new uPlot(options, plot.data, element)
    if (points === 0) {
      const note = document.createElement('p')
      note.className = 'no-samples'
      note.textContent = 'no samples'
      element.appendChild(note)
    }
    element.dataset.points = String(points)
  }

  for (const plot of PLOTS) {
    try {
      draw(plot)
    } catch (err) {
      const element = document.getElementById(plot.id)
      if (element) element.dataset.error = String(err)
      console.error('plot ' + plot.id + ' failed: ' + err)
    }
  }
  document.documentElement.dataset.rendered = 'true'
})()
`
