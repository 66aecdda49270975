import assert from 'node:assert/strict'
import { mkdir } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Browser, Page } from 'puppeteer-core'
import type { Hex } from 'viem'
import { getTransactionReceipt } from 'viem/actions'
import type { ClientLease, RenterClient } from '../../src/client/index.js'
import { createPayPublicClient } from '../../src/pay/clients.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { launchChromium, requireChromium } from '../helpers/chromium.js'
import { REPO_ROOT } from '../helpers/cli.js'
import {
  type ConsoleDaemon,
  consoleFetch,
  inputs,
  MODEL,
  PRICE,
  startConsoleDaemon,
  startRenterClient,
  waitFor,
} from './console-fixture.js'

const PAGE_DEADLINE_MS = 20_000
/** Screenshots for a person to look at (gitignored). */
const SHOTS = join(REPO_ROOT, 'test-output', 'console')

// Checked before any test is declared, so a machine without chromium fails this file (never skips it).
await requireChromium()

/** A raw request, for headers fetch() will not send as given (Host, Origin). */
async function raw(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers, agent: false }, (res) => {
      let text = ''
      res.on('data', (d) => {
        text += String(d)
      })
      res.on('end', () => resolve({ status: res.statusCode!, text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

const ROUTES: Array<[string, string]> = [
  ['GET', '/api/v1/state'],
  ['POST', '/api/v1/pause'],
  ['POST', '/api/v1/resume'],
  ['POST', '/api/v1/price'],
  ['POST', '/api/v1/settle'],
  ['GET', '/metrics'],
]

describe('the owner console in headless Chromium, on a real daemon with a renter leasing', () => {
  let chain: DevChain
  let provider: ConsoleDaemon
  let renter: RenterClient
  let browser: Browser | undefined

  before(async () => {
    await mkdir(SHOTS, { recursive: true })
    chain = await startDevChain()
    provider = await startConsoleDaemon(chain)
    renter = await startRenterClient(chain, 1)
    browser = await launchChromium({ timeoutMs: PAGE_DEADLINE_MS })
  })

  after(async () => {
    await browser?.close()
    await renter?.close()
    await provider?.daemon.stop()
    await chain?.stop()
  })

  async function openPage(url: string): Promise<{ page: Page; errors: string[] }> {
    const page = await browser!.newPage()
    const errors: string[] = []
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(`console: ${message.text()}`)
    })
    page.on('pageerror', (err) => {
      errors.push(`page: ${String(err)}`)
    })
    await page.setViewport({ width: 1280, height: 1000 })
    await page.goto(url, { waitUntil: 'load', timeout: PAGE_DEADLINE_MS })
    return { page, errors }
  }

  const text = async (page: Page, selector: string): Promise<string> =>
    page.$eval(selector, (element) => element.textContent ?? '')

  it('refuses every data route and action without the token, with a wrong one, from another Host or Origin', async () => {
    const { url, token, daemon } = provider
    const wrong = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`
    for (const [method, path] of ROUTES) {
      const body = method === 'POST' ? {} : undefined
      for (const attempt of [undefined, wrong, 'short']) {
        const answer = await consoleFetch(url, path, { method, body, token: attempt })
        assert.equal(answer.status, 401, `${method} ${path} with token ${String(attempt)}`)
        // Nothing but the refusal: no data leaks with it.
        assert.deepEqual(Object.keys(answer.json ?? {}), ['error'], `${method} ${path}`)
        assert.equal(answer.json.error.code, 'UNAUTHORIZED')
        assert.ok(!answer.text.includes(daemon.node.peerId.toString()))
      }
      const basic = await consoleFetch(url, path, { method, body, headers: { authorization: `Basic ${token}` } })
      assert.equal(basic.status, 401)
    }
    const { port } = new URL(url)
    // DNS rebinding: a name that resolves to 127.0.0.1 still carries its own Host, which is refused, token or not.
    const rebound = await raw(url, 'GET', '/api/v1/state', {
      host: `attacker.example:${port}`,
      authorization: `Bearer ${token}`,
    })
    assert.equal(rebound.status, 421)
    assert.equal((await raw(url, 'GET', '/', { host: `attacker.example:${port}` })).status, 421)
    // CSRF: another site's page cannot send the header without a preflight, and an Origin that is not ours is refused.
    const crossSite = await raw(
      url,
      'POST',
      '/api/v1/pause',
      {
        host: `127.0.0.1:${port}`,
        origin: 'http://attacker.example',
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
      },
      '{}',
    )
    assert.equal(crossSite.status, 403)
    const formPost = await raw(
      url,
      'POST',
      '/api/v1/pause',
      { host: `127.0.0.1:${port}`, authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
      '{}',
    )
    assert.equal(formPost.status, 415)
    const huge = await raw(
      url,
      'POST',
      '/api/v1/price',
      { host: `localhost:${port}`, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      JSON.stringify({ pricePerSecond: '1'.repeat(8_000) }),
    )
    assert.equal(huge.status, 413)
    // None of the refused actions happened.
    assert.equal((await daemon.status()).selling, true)
    // The page itself holds no data, so it loads without the token.
    const page = await consoleFetch(url, '/')
    assert.equal(page.status, 200)
    assert.ok(!page.text.includes(daemon.node.peerId.toString()))
  })

  it('shows the lease, grows the earnings chart, settles on-chain on "Settle now", and pauses and resumes', async () => {
    const { daemon, address, token, url } = provider
    const lease: ClientLease = await renter.lease({ model: MODEL, maxPricePerSecond: PRICE, provider: address })
    let jobs = true
    const working = (async () => {
      while (jobs && lease.active) {
        await lease.infer({ inputs: inputs() }).catch(() => {})
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
    })()
    const { page, errors } = await openPage(`${url}#token=${token}`)
    try {
      await page.waitForSelector(`#leases tbody tr[data-key="${lease.leaseId}"]`, { timeout: PAGE_DEADLINE_MS })
      // The token left the address bar once read.
      assert.ok(!page.url().includes(token))
      assert.equal(await page.evaluate('document.documentElement.dataset.state'), 'selling')
      const row = await text(page, `#leases tbody tr[data-key="${lease.leaseId}"]`)
      assert.ok(row.includes('active'), row)
      assert.ok((await text(page, '#models')).includes('add.onnx'))
      assert.ok((await text(page, '#peer')).includes(daemon.node.peerId.toString().slice(0, 10)))
      assert.ok((await text(page, '#addresses')).includes('loopback'))

      // The chart grows as the renter pays: more points, and the gross line rises.
      const chartPoints = async (): Promise<number> =>
        Number(await page.$eval('#earnings-chart', (element) => element.getAttribute('data-points')))
      const gross = async (): Promise<bigint> =>
        BigInt((await text(page, '#earnings-totals tbody tr:first-child td:last-child')).replaceAll(',', ''))
      await waitFor(async () => (await chartPoints()) >= 2 && (await gross()) > 0n, 'a first paid sample')
      const [pointsBefore, grossBefore] = [await chartPoints(), await gross()]
      await waitFor(
        async () => (await chartPoints()) > pointsBefore && (await gross()) > grossBefore,
        'the chart to grow',
        PAGE_DEADLINE_MS,
      )
      assert.equal(await page.$$eval('#earnings-chart canvas', (canvases) => canvases.length), 1)
      await waitFor(async () => (await text(page, '#load')).includes('jobs'), 'the load table')

      // Settle now (forced: at this price a settlement costs more gas than a few seconds bring).
      await page.click('#force')
      await page.click('#settle')
      await page.waitForSelector('#settlements tbody tr[data-key^="0x"]', { timeout: PAGE_DEADLINE_MS })
      const txHash = (await page.$eval('#settlements tbody tr[data-key^="0x"]', (el) =>
        el.getAttribute('data-key'),
      )) as Hex
      const receipt = await getTransactionReceipt(createPayPublicClient(chain), {
        hash: txHash,
      })
      assert.equal(receipt.status, 'success')
      assert.equal(receipt.to?.toLowerCase(), chain.contract.toLowerCase())
      const history = await daemon.settlements()
      assert.deepEqual(
        history.map((s) => s.transactionHash),
        [txHash],
      )
      assert.ok((await text(page, '#per-day')).includes(new Date().toISOString().slice(0, 10)))
      await page.screenshot({ path: join(SHOTS, 'console.png'), fullPage: true })

      // Pause from the page: the renter's lease ends PROVIDER_PAUSED and the page shows it.
      jobs = false
      await working
      await page.click('#pause')
      assert.equal((await lease.ended).endReason, 'PROVIDER_PAUSED')
      await page.waitForFunction("document.documentElement.dataset.state === 'paused'", { timeout: PAGE_DEADLINE_MS })
      await waitFor(async () => (await text(page, '#recent')).includes('PROVIDER_PAUSED'), 'the ended lease')
      assert.equal(await page.$eval('#paused-note', (el) => (el as unknown as { hidden: boolean }).hidden), false)
      await page.screenshot({ path: join(SHOTS, 'paused.png'), fullPage: true })
      await page.click('#resume')
      await page.waitForFunction("document.documentElement.dataset.state === 'selling'", { timeout: PAGE_DEADLINE_MS })
      assert.equal((await daemon.status()).selling, true)
      assert.deepEqual(errors, [])
    } finally {
      jobs = false
      await working
      await page.close()
    }
  })

  it('shows no data to a page opened without the token or with a wrong one', async () => {
    for (const [name, url] of [
      ['no-token', provider.url],
      ['wrong-token', `${provider.url}#token=${'A'.repeat(43)}`],
    ] as const) {
      const { page } = await openPage(url)
      try {
        await page.waitForFunction("document.documentElement.dataset.error === '401'", { timeout: PAGE_DEADLINE_MS })
        assert.equal(await page.evaluate('document.documentElement.dataset.polls'), undefined)
        assert.equal(await text(page, '#peer'), '')
        assert.equal(await page.$$eval('#leases tbody tr', (rows) => rows.length), 0)
        assert.ok((await text(page, '#error')).includes('parkbench console'))
        await page.screenshot({ path: join(SHOTS, `${name}.png`) })
      } finally {
        await page.close()
      }
    }
  })
})
