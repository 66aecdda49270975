import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { privateKeyToAccount } from 'viem/accounts'
import type { RenterClient } from '../../src/client/index.js'
import { resolveConfig } from '../../src/daemon/config.js'
import { createDaemon, type Daemon } from '../../src/daemon/daemon.js'
import { evaluatePolicy, inSchedule, parseWindow, resolvePolicy } from '../../src/daemon/policy-rules.js'
import { readAcPower } from '../../src/daemon/power-supply.js'
import { createResourcePolicy, type PolicySensors } from '../../src/daemon/resource-policy.js'
import type { PausedBy } from '../../src/daemon/selling.js'
import { fetchOffer } from '../../src/market/discover.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { launchChromium } from '../helpers/chromium.js'
import { REPO_ROOT } from '../helpers/cli.js'
import { consoleFetch, inputs, MODEL, PRICE, startRenterClient, waitFor } from './console-fixture.js'

/** A fake sysfs power_supply dir: one mains adapter and one battery, as a laptop has. */
async function powerSupplies(online: boolean): Promise<{ dir: string; plug(online: boolean): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'pb-power-'))
  await mkdir(join(dir, 'AC'))
  await mkdir(join(dir, 'BAT0'))
  await writeFile(join(dir, 'AC', 'type'), 'Mains\n')
  await writeFile(join(dir, 'BAT0', 'type'), 'Battery\n')
  const plug = async (on: boolean) => {
    await writeFile(join(dir, 'AC', 'online'), on ? '1\n' : '0\n')
    await writeFile(join(dir, 'BAT0', 'status'), on ? 'Charging\n' : 'Discharging\n')
  }
  await plug(online)
  return { dir, plug }
}

describe('resource policy rules', () => {
  it('reads mains power from a sysfs power_supply dir; says nothing where it cannot tell', async () => {
    const laptop = await powerSupplies(true)
    assert.equal(await readAcPower(laptop.dir), true)
    await laptop.plug(false)
    assert.equal(await readAcPower(laptop.dir), false)
    assert.equal(await readAcPower(await mkdtemp(join(tmpdir(), 'pb-power-empty-'))), undefined)
    assert.equal(await readAcPower(join(tmpdir(), 'pb-no-such-dir')), undefined)
  })

  it('weighs load, power, schedule and the daily cap, each on its own', () => {
    const config = resolvePolicy({
      maxLoadPerCore: 0.5,
      acPowerOnly: true,
      schedule: ['22:00-07:00', '12:00-13:00'],
      maxSoldHoursPerDay: 2,
    })!
    const at = (h: number, m = 0) => new Date(2026, 11, 1, h, m)
    const fine = { now: at(23), loadPerCore: 0.1, onAcPower: true, soldTodayMs: 0 }
    assert.deepEqual(evaluatePolicy(config, fine), { allowed: true, reasons: [] })
    assert.equal(evaluatePolicy(config, { ...fine, onAcPower: false }).allowed, false)
    assert.equal(evaluatePolicy(config, { ...fine, onAcPower: undefined }).allowed, true, 'unknown power allows')
    assert.equal(evaluatePolicy(config, { ...fine, loadPerCore: 0.6 }).allowed, false)
    assert.equal(evaluatePolicy(config, { ...fine, loadPerCore: undefined }).allowed, true, 'unknown load allows')
    assert.equal(evaluatePolicy(config, { ...fine, soldTodayMs: 2 * 3_600_000 }).allowed, false)
    assert.equal(evaluatePolicy(config, { ...fine, now: at(8) }).allowed, false)
    assert.equal(evaluatePolicy(config, { ...fine, now: at(12, 30) }).allowed, true)
    assert.equal(evaluatePolicy(config, { ...fine, now: at(6, 59) }).allowed, true, 'a window crossing midnight')
    assert.equal(evaluatePolicy(config, { ...fine, now: at(7) }).allowed, false, 'windows end exclusive')
    const all = evaluatePolicy(config, { now: at(8), loadPerCore: 3, onAcPower: false, soldTodayMs: 1e9 })
    assert.equal(all.reasons.length, 4)
    assert.equal(inSchedule([parseWindow('09:00-17:00')], at(9)), true)
    assert.equal(resolvePolicy({}), undefined, 'no rule, no policy')
    for (const bad of [
      { maxLoadPerCore: 0 },
      { maxSoldHoursPerDay: 25 },
      { schedule: ['9-17'] },
      { schedule: ['10:00-10:00'] },
      { schedule: [] },
      { checkIntervalMs: 1 },
    ]) {
      assert.throws(() => resolvePolicy(bad), { name: 'InvalidInputError' }, JSON.stringify(bad))
    }
    // From config.json and flags, through the daemon's config.
    const daemonConfig = resolveConfig('/tmp/x', { policy: { acPowerOnly: true } }, { policy: { maxLoadPerCore: 1 } })
    assert.equal(daemonConfig.policy?.acPowerOnly, true)
    assert.equal(daemonConfig.policy?.maxLoadPerCore, 1)
  })

  it('counts the time sold today durably and stops selling at the daily cap; never lifts an owner pause', async () => {
    const stateFile = join(await mkdtemp(join(tmpdir(), 'pb-policy-')), 'policy-state.json')
    let now = new Date(2026, 11, 1, 10, 0).getTime()
    let paused: { by: PausedBy } | undefined
    const pauses: PausedBy[] = []
    const selling = {
      get paused() {
        return paused
      },
      pause: async ({ by }: { by: PausedBy }) => {
        paused = { by }
        pauses.push(by)
      },
      resume: async () => {
        paused = undefined
      },
    }
    const sensors: PolicySensors = { loadPerCore: () => 0, onAcPower: async () => true, now: () => new Date(now) }
    const make = () =>
      createResourcePolicy(
        { selling, activeLeases: () => 1, busyWorkers: () => 0, sensors, stateFile },
        resolvePolicy({ maxSoldHoursPerDay: 1, checkIntervalMs: 60_000 })!,
      )
    const policy = make()
    await policy.start()
    now += 40 * 60_000
    assert.equal((await policy.check()).allowed, true)
    await policy.stop()
    // A restart keeps the 40 minutes sold today.
    assert.equal(JSON.parse(await readFile(stateFile, 'utf8')).ms, 40 * 60_000)
    const restarted = make()
    await restarted.start()
    now += 20 * 60_000
    assert.equal((await restarted.check()).allowed, false)
    assert.deepEqual(pauses, ['policy'])
    // A new day starts from zero: selling resumes.
    now = new Date(2026, 11, 2, 0, 5).getTime()
    assert.equal((await restarted.check()).allowed, true)
    assert.equal(paused, undefined)
    // The owner's pause stays, whatever the policy says.
    paused = { by: 'owner' }
    assert.equal((await restarted.check()).allowed, true)
    assert.deepEqual(paused, { by: 'owner' })
    await restarted.stop()
  })
})

describe('a daemon whose resource policy stops selling (simulated power and load changes)', () => {
  let chain: DevChain
  let daemon: Daemon
  let renter: RenterClient
  let power: Awaited<ReturnType<typeof powerSupplies>>
  let load = 0.1
  let url: string
  let token: string

  before(async () => {
    chain = await startDevChain()
    power = await powerSupplies(true)
    const dataDir = await mkdtemp(join(tmpdir(), 'pb-policy-daemon-'))
    daemon = createDaemon({
      config: resolveConfig(dataDir, {
        listen: ['/ip4/127.0.0.1/tcp/0'],
        offer: { pricePerSecond: String(PRICE), threads: 2, maxLeaseSeconds: 60 },
        policy: { acPowerOnly: true, maxLoadPerCore: 0.5, powerSupplyDir: power.dir, checkIntervalMs: 100 },
      }),
      chain,
      account: privateKeyToAccount(chain.accounts[2]!.privateKey),
      console: { port: 0 },
      modelRescanMs: 0,
      // The load average cannot be set from a test: the sensor is simulated; power comes from the fake sysfs dir.
      policySensors: { loadPerCore: () => load },
    })
    await daemon.start()
    await daemon.compute.store.add(MODEL, { name: 'add.onnx' })
    await daemon.syncModels()
    url = daemon.console!.url!
    token = new URL(daemon.console!.urlWithToken()!).hash.slice('#token='.length)
    renter = await startRenterClient(chain, 1)
  })

  after(async () => {
    await renter?.close()
    await daemon?.stop()
    await chain?.stop()
  })

  /** Lease, run a job, wait for two paid ticks, apply `change`: the lease ends PROVIDER_POLICY, paid as served. */
  async function leaseUntil(change: () => Promise<void>): Promise<void> {
    const address = daemon.node.getMultiaddrs()[0]!
    const lease = await renter.lease({ model: MODEL, maxPricePerSecond: PRICE, provider: address })
    await lease.infer({ inputs: inputs() })
    const sold = () => daemon.leaseList().find((l) => l.leaseId === lease.leaseId)!
    await waitFor(() => sold().ticksPaid >= 2, 'two paid ticks')
    const totalBefore = daemon.receiver!.channelTotal(sold().channelId) - sold().amountPaid
    await change()
    const summary = await lease.ended
    assert.equal(summary.endReason, 'PROVIDER_POLICY')
    assert.equal(sold().endReason, 'PROVIDER_POLICY')
    // Charged only for what was served: the renter sent exactly the ticks the provider accepted, no more.
    assert.equal(summary.ticksSent, sold().ticksPaid)
    assert.equal(summary.amountPaid, sold().amountPaid)
    const servedMs = sold().endedAt! - sold().startedAt
    assert.ok(sold().ticksPaid <= Math.ceil(servedMs / 1000) + 1, `${sold().ticksPaid} ticks for ${servedMs} ms`)
    assert.equal(daemon.receiver!.channelTotal(sold().channelId), totalBefore + summary.amountPaid)
    assert.equal(daemon.paused?.by, 'policy')
    await assert.rejects(fetchOffer({ node: renter.node }, address), { name: 'NoOfferError' })
  }

  it('unplugged: running leases end PROVIDER_POLICY, the offer is withdrawn; plugged in again, it sells', async () => {
    await leaseUntil(() => power.plug(false))
    const state = await consoleFetch(url, '/api/v1/state', { token })
    assert.equal(state.json.selling.state, 'paused')
    assert.equal(state.json.selling.paused.by, 'policy')
    assert.equal(state.json.policy.allowed, false)
    assert.equal(state.json.policy.readings.onAcPower, false)
    assert.equal(state.json.policy.rules.acPowerOnly, true)
    // The page shows the policy and why it stopped selling.
    const browser = await launchChromium()
    try {
      const page = await browser.newPage()
      const errors: string[] = []
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text())
      })
      page.on('pageerror', (err) => {
        errors.push(String(err))
      })
      await page.setViewport({ width: 1280, height: 1000 })
      await page.goto(daemon.console!.urlWithToken()!, { waitUntil: 'load' })
      await page.waitForFunction("document.documentElement.dataset.state === 'paused'", { timeout: 20_000 })
      const policy = await page.$eval('#policy', (el) => el.textContent ?? '')
      assert.ok(policy.includes('on mains power only'), policy)
      assert.ok(policy.includes('no, on battery'), policy)
      assert.ok((await page.$eval('#recent', (el) => el.textContent ?? '')).includes('PROVIDER_POLICY'))
      await mkdir(join(REPO_ROOT, 'test-output', 'console'), { recursive: true })
      await page.screenshot({ path: join(REPO_ROOT, 'test-output', 'console', 'policy.png'), fullPage: true })
      assert.deepEqual(errors, [])
    } finally {
      await browser.close()
    }
    await power.plug(true)
    await waitFor(async () => (await daemon.status()).selling, 'selling again')
    await fetchOffer({ node: renter.node }, daemon.node.getMultiaddrs()[0]!)
  })

  it('started on battery: it never advertises, and sells once plugged in', async () => {
    const onBattery = await powerSupplies(false)
    const dataDir = await mkdtemp(join(tmpdir(), 'pb-policy-battery-'))
    const late = createDaemon({
      config: resolveConfig(dataDir, {
        listen: ['/ip4/127.0.0.1/tcp/0'],
        offer: { pricePerSecond: String(PRICE), threads: 1, maxLeaseSeconds: 60 },
        policy: { acPowerOnly: true, powerSupplyDir: onBattery.dir, checkIntervalMs: 100 },
      }),
      chain,
      account: privateKeyToAccount(chain.accounts[3]!.privateKey),
      control: false,
      modelRescanMs: 0,
    })
    await late.start()
    try {
      assert.equal(late.paused?.by, 'policy')
      assert.equal((await late.status()).selling, false)
      await assert.rejects(fetchOffer({ node: renter.node }, late.node.getMultiaddrs()[0]!), { name: 'NoOfferError' })
      await onBattery.plug(true)
      await waitFor(async () => (await late.status()).selling, 'selling once plugged in')
      assert.equal(late.paused, undefined)
    } finally {
      await late.stop()
    }
  })

  it('busy machine: the same, on a simulated load over the threshold', async () => {
    await leaseUntil(async () => {
      load = 0.9
    })
    load = 0.1
    await waitFor(async () => (await daemon.status()).selling, 'selling again')
  })
})
