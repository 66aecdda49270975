// The owner console's page script: plain browser JavaScript served as a static file (no build step). It takes the
// token from the URL (#token=...), keeps it for this tab only, polls GET /api/v1/state every few seconds with it in an
// Authorization header, and draws the state. After each successful poll <html> gets data-polls (a count) and
// data-state, and the chart element data-points, so a test can wait for them.
;(() => {
  const TOKEN_KEY = 'parkbench-console-token'
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token')
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash)
    // The token leaves the address bar: it should not show in a screen share or a bookmark.
    history.replaceState(null, '', location.pathname)
  }
  const token = sessionStorage.getItem(TOKEN_KEY) || ''
  const root = document.documentElement
  let pollMs = 2000
  let polls = 0
  let chart

  const $ = (id) => document.getElementById(id)
  const text = (value) => document.createTextNode(value == null ? '' : String(value))

  /** A decimal string of base units with thousands separators (exact: it never becomes a float). */
  const amount = (value) => {
    const s = value == null ? '0' : String(value)
    const negative = s.startsWith('-')
    const digits = negative ? s.slice(1) : s
    return (negative ? '-' : '') + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  }
  /** Base units as a float in units of 10^9 (gwei for ETH), close enough for a chart. */
  const giga = (value) => {
    try {
      const v = BigInt(value)
      return Number(v / 1000000000n) + Number(v % 1000000000n) / 1e9
    } catch {
      return null
    }
  }
  const short = (id) => (id && id.length > 18 ? `${id.slice(0, 10)}…${id.slice(-6)}` : id || '')
  const code = (value, full, whole) => {
    const el = document.createElement('code')
    el.textContent = whole ? value : short(value)
    el.title = full || value || ''
    return el
  }
  const when = (ms) => new Date(Number(ms)).toLocaleString()

  /** Replace a table body's rows; each row is a list of cells (text, a node, or { value, num: true }). */
  const rows = (tableId, data, emptyText, key) => {
    const body = $(tableId).tBodies[0]
    body.replaceChildren()
    if (data.length === 0 && emptyText) {
      const tr = body.insertRow()
      tr.className = 'empty'
      const td = tr.insertCell()
      td.colSpan = $(tableId).tHead ? $(tableId).tHead.rows[0].cells.length : 2
      td.textContent = emptyText
      return
    }
    for (const item of data) {
      const tr = body.insertRow()
      if (key) tr.dataset.key = key(item)
      for (const cell of item.cells || item) {
        const td = tr.insertCell()
        if (cell instanceof Node) td.append(cell)
        else if (cell && typeof cell === 'object') {
          td.className = cell.num ? 'num' : ''
          td.append(cell.node || text(cell.value))
        } else td.append(text(cell))
      }
    }
  }
  const pairs = (tableId, list) =>
    rows(
      tableId,
      list.map(([k, v]) => ({ cells: [k, v instanceof Node ? v : { value: v, num: false }] })),
      '',
      undefined,
    )

  const showError = (message) => {
    const el = $('error')
    el.hidden = message == null
    el.textContent = message || ''
  }

  async function api(method, path, body) {
    const res = await fetch(path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    })
    const json = await res.json().catch(() => ({}))
    if (!res.ok) {
      const err = new Error(json.error?.message || `HTTP ${res.status}`)
      err.status = res.status
      throw err
    }
    return json
  }

  function drawChart(series, symbol) {
    const element = $('earnings-chart')
    const data = [
      series.map((s) => s.t / 1000),
      series.map((s) => giga(s.gross)),
      series.map((s) => giga(s.settled)),
      series.map((s) => giga(s.gas)),
      series.map((s) => {
        try {
          return giga((BigInt(s.gross) - BigInt(s.gas)).toString())
        } catch {
          return null
        }
      }),
    ]
    if (chart === undefined) {
      const unit = symbol === 'ETH' ? 'gwei' : `10^9 base units (${symbol || 'token'})`
      chart = new uPlot(
        {
          width: Math.max(320, element.clientWidth),
          height: 260,
          scales: { x: { time: true } },
          axes: [{}, { label: unit, size: 70 }],
          series: [
            {},
            { label: 'gross (acknowledged)', stroke: '#2563eb', width: 2 },
            { label: 'settled', stroke: '#059669', width: 2 },
            { label: 'settlement gas', stroke: '#dc2626', width: 2 },
            { label: 'net (gross - gas)', stroke: '#7c3aed', width: 2, dash: [6, 4] },
          ],
        },
        data,
        element,
      )
    } else chart.setData(data)
    element.dataset.points = String(series.length)
  }

  function render(state) {
    pollMs = state.pollMs || pollMs
    const selling = state.selling
    const badge = $('state')
    badge.textContent = selling.state
    badge.className = `badge ${selling.state}`
    $('peer').replaceChildren(
      text('peer '),
      code(state.node.peerId, state.node.peerId),
      text('  payout '),
      code(state.node.payoutAddress || '', state.node.payoutAddress),
    )
    $('pause').disabled = selling.state !== 'selling'
    $('resume').disabled = selling.state !== 'paused'
    const note = $('paused-note')
    note.hidden = !selling.paused
    note.textContent = selling.paused
      ? `Not selling: ${selling.paused.detail} (${selling.paused.by}). The offer is withdrawn.`
      : ''
    const terms = selling.terms
    const priceInput = $('price')
    if (document.activeElement !== priceInput) priceInput.placeholder = String(terms.pricePerSecond)
    pairs('offer', [
      ['price per second', `${amount(terms.pricePerSecond)} base units (${terms.tokenSymbol})`],
      ['advertised', selling.advertised ? `yes, offer sequence ${selling.advertised.sequence}` : 'no'],
      ['threads', terms.threads],
      ['memory', `${Math.round(Number(terms.memoryBytes) / 2 ** 20)} MiB`],
      ['longest commitment', `${terms.maxLeaseSeconds} s`],
    ])
    rows(
      'models',
      terms.models.map((m) => [
        m.name,
        code(m.sha256),
        { value: m.sizeBytes < 10240 ? `${m.sizeBytes} B` : `${Math.round(m.sizeBytes / 1024)} KiB`, num: true },
      ]),
      'no models: add one with `parkbench model add FILE`',
    )
    rows(
      'leases',
      state.leases.active.map((l) => ({
        cells: [
          code(l.leaseId),
          code(l.renter),
          { value: l.seconds, num: true },
          { value: amount(l.pricePerSecond), num: true },
          { value: l.ticksPaid, num: true },
          { value: amount(l.amountPaid), num: true },
          { value: l.jobs, num: true },
          l.state,
        ],
      })),
      'no active lease',
      (l) => l.cells[0].title,
    )
    const totals = state.earnings.totals
    const t = totals?.tokens[0]
    const gross = state.earnings.series.length ? state.earnings.series[state.earnings.series.length - 1].gross : '0'
    pairs('earnings-totals', [
      ['gross acknowledged (settled or not)', amount(gross)],
      ['settled', t ? `${amount(t.settled)} in ${t.settlements} settlements` : '0'],
      ['settlement gas (wei)', t ? amount(t.gasSpent) : '0'],
      ['net settled (settled - gas)', t ? amount(t.net) : '0'],
      ['accepted, not yet settled', totals ? amount(totals.unsettled) : '0'],
    ])
    drawChart(state.earnings.series, terms.tokenSymbol)
    rows(
      'per-day',
      state.earnings.perDay.map((d) => [
        d.day,
        { value: amount(d.settled), num: true },
        { value: amount(d.gas), num: true },
        { value: amount(d.net), num: true },
        { value: d.settlements, num: true },
      ]),
      'nothing settled yet',
    )
    const ch = state.channels
    $('channel-summary').textContent =
      `${ch.settled} settled in full, ${ch.unsettled} with an unsettled amount, ${ch.pending.length} settlements pending`
    rows(
      'channels',
      ch.list.map((c) => [
        code(c.channelId),
        { value: amount(c.acceptedOffChain), num: true },
        { value: amount(c.settledPaid), num: true },
        { value: amount(c.unsettled), num: true },
        { value: amount(c.gasSpent), num: true },
      ]),
      'no channel has paid this node yet',
    )
    rows(
      'settlements',
      state.settlements.map((s) => ({
        tx: s.transactionHash,
        cells: [
          when(s.settledAt),
          code(s.channelId),
          { value: amount(s.paid), num: true },
          { value: amount(s.gasCost), num: true },
          `${s.status} (${s.reason}, ${s.kind})`,
          code(s.transactionHash, s.transactionHash),
        ],
      })),
      'no settlement yet',
      (s) => s.tx,
    )
    const load = state.load
    pairs('load', [
      ['CPU (this process)', `${load.cpuPercent}%`],
      [
        'event-loop delay',
        `p50 ${load.eventLoop.p50Ms} ms, p99 ${load.eventLoop.p99Ms} ms, max ${load.eventLoop.maxMs} ms`,
      ],
      ['jobs', `${load.jobs} since start, ${load.jobsPerSecond}/s now`],
      ['leases', `${load.leases.active} active, ${load.leases.threadsFree} threads free`],
      ['memory (resident)', `${Math.round(load.rssBytes / 2 ** 20)} MiB`],
      ['system load (1, 5, 15 min)', load.systemLoad.map((v) => v.toFixed(2)).join(', ')],
      ['up', `${Math.round(load.uptimeMs / 1000)} s`],
    ])
    $('reachability').textContent = state.node.reachability.summary
    rows(
      'addresses',
      state.node.addresses.map((a) => [code(a.addr.replace(/\/p2p\/[^/]+$/, ''), a.addr, true), a.scope]),
      'not listening',
    )
    rows(
      'recent',
      state.leases.recent.map((l) => [
        code(l.leaseId),
        code(l.renter),
        { value: l.seconds, num: true },
        { value: amount(l.amountPaid), num: true },
        { value: l.jobs, num: true },
        l.endReason || '',
      ]),
      'no lease ended yet',
    )
    renderPolicy(state.policy)
    polls++
    root.dataset.state = selling.state
    root.dataset.polls = String(polls)
  }

  function renderPolicy(policy) {
    $('policy-section').hidden = policy == null
    if (policy == null) return
    const { rules, readings } = policy
    const set = [
      rules.maxLoadPerCore != null ? `load per core at most ${rules.maxLoadPerCore}` : null,
      rules.acPowerOnly ? 'on mains power only' : null,
      rules.schedule ? `between ${rules.schedule.join(', ')}` : null,
      rules.maxSoldHoursPerDay != null ? `at most ${rules.maxSoldHoursPerDay} h a day` : null,
    ].filter((rule) => rule !== null)
    const unknown = (value, show) => (value == null ? 'cannot tell here' : show(value))
    pairs('policy', [
      ['sell when', set.join('; ')],
      [
        'now',
        policy.allowed == null
          ? 'not checked yet'
          : policy.allowed
            ? 'allowed'
            : `not allowed: ${policy.reasons.join('; ')}`,
      ],
      ['load per core (other work)', readings ? unknown(readings.loadPerCore, (v) => v.toFixed(2)) : ''],
      ['on mains power', readings ? unknown(readings.onAcPower, (v) => (v ? 'yes' : 'no, on battery')) : ''],
      ['sold today', `${(policy.soldTodayMs / 3600000).toFixed(2)} h`],
    ])
  }

  async function poll() {
    try {
      render(await api('GET', '/api/v1/state'))
      showError(null)
    } catch (err) {
      $('state').textContent = 'error'
      $('state').className = 'badge error'
      showError(
        err.status === 401
          ? 'No access: open the URL `parkbench console` prints (it carries the token).'
          : `The daemon did not answer: ${err.message}`,
      )
      root.dataset.error = String(err.status || 'network')
    } finally {
      setTimeout(poll, pollMs)
    }
  }

  async function act(label, method, path, body) {
    const result = $('action-result')
    result.textContent = `${label}…`
    try {
      const answer = await api(method, path, body)
      result.textContent = `${label}: done${answer.settled ? `, ${answer.settled.length} settled, ${answer.skipped.length} skipped` : ''}`
      root.dataset.lastAction = path
    } catch (err) {
      result.textContent = `${label} failed: ${err.message}`
    }
    try {
      render(await api('GET', '/api/v1/state'))
    } catch {
      // the next poll reports it
    }
  }

  $('pause').addEventListener('click', () => act('Pause', 'POST', '/api/v1/pause', {}))
  $('resume').addEventListener('click', () => act('Resume', 'POST', '/api/v1/resume', {}))
  $('settle').addEventListener('click', () => act('Settle', 'POST', '/api/v1/settle', { force: $('force').checked }))
  $('price-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const value = $('price').value.trim()
    if (value === '') return
    act('Price', 'POST', '/api/v1/price', { pricePerSecond: value }).then(() => {
      $('price').value = ''
    })
  })
  window.addEventListener('resize', () => {
    if (chart !== undefined) chart.setSize({ width: Math.max(320, $('earnings-chart').clientWidth), height: 260 })
  })
  poll()
})()
