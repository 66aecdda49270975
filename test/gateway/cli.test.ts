import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { privateKeyToAccount } from 'viem/accounts'
import { resolveConfig } from '../../src/daemon/config.js'
import { createDaemon, type Daemon } from '../../src/daemon/daemon.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { identityModel } from '../compute/onnx-builder.js'
import { type LongRunning, runCli, startCli, writeChainFile } from '../helpers/cli.js'
import { jsonOf, postInfer, waitUntil } from './fixture.js'

/** What the README promises a new user: start the gateway, create a key, one request, a paid result. */
describe('parkbench gateway from the command line', () => {
  let chain: DevChain
  let provider: Daemon
  let gateway: LongRunning
  let dir: string

  before(async () => {
    chain = await startDevChain()
    dir = await mkdtemp(join(tmpdir(), 'pb-gateway-cli-'))
    provider = createDaemon({
      config: resolveConfig(join(dir, 'provider'), {
        listen: ['/ip4/127.0.0.1/tcp/0'],
        offer: { pricePerSecond: '1000', threads: 1, maxLeaseSeconds: 60 },
      }),
      chain,
      account: privateKeyToAccount(chain.accounts[2]!.privateKey),
    })
    await provider.start()
    const modelFile = join(dir, 'ident.onnx')
    await writeFile(modelFile, identityModel(['float32']))
    gateway = startCli([
      'gateway',
      '--port',
      '0',
      '--data-dir',
      join(dir, 'renter'),
      '--chain',
      await writeChainFile(chain, dir),
      '--private-key',
      chain.accounts[1]!.privateKey,
      '--model',
      `ident=${modelFile}`,
      '--bootstrap',
      provider.node.getMultiaddrs()[0]!.toString(),
    ])
  })

  after(async () => {
    await gateway?.stop()
    await provider?.stop()
    await chain?.stop()
  })

  it('a key created from another shell works at once, and the first request is paid and says so', async () => {
    const url = (await gateway.waitFor(/gateway listening on (\S+)/))[1]!
    const created = await runCli([
      'gateway',
      'key',
      'create',
      '--name',
      'agent-1',
      '--max-price-per-second',
      '2000',
      '--max-per-day',
      '100000',
      '--data-dir',
      join(dir, 'renter'),
    ])
    assert.equal(created.code, 0, created.stderr)
    const key = created.stdout.split('\n')[0]!
    assert.match(key, /^pbk_/)
    const request = { json: { inputs: [{ name: 'x_float32', datatype: 'FP32', shape: [3], data: [1, 2, 3] }] } }
    // The provider's offer reaches the gateway's DHT view shortly after start: retry the 503 until then.
    let res: Response | undefined
    await waitUntil(async () => {
      res = await postInfer(url, 'ident', request, key)
      return res.status !== 503
    }, 20_000)
    assert.equal(res!.status, 200, await res!.clone().text())
    const body = await jsonOf(res!)
    assert.deepEqual(body.outputs[0].data, [1, 2, 3])
    assert.equal(body.parameters.parkbench_provider, provider.node.peerId.toString())
    const cost = BigInt(body.parameters.parkbench_cost_wei)
    assert.ok(cost >= 1000n && cost % 1000n === 0n, 'whole ticks at the provider price, the first one at least')

    const revoked = await runCli(['gateway', 'key', 'revoke', 'agent-1', '--data-dir', join(dir, 'renter')])
    assert.equal(revoked.code, 0, revoked.stderr)
    await waitUntil(async () => (await postInfer(url, 'ident', request, key)).status === 401)
    assert.equal(await gateway.stop(), 0, 'SIGTERM stops it cleanly')
    const keys = await runCli(['gateway', 'keys', '--json', '--data-dir', join(dir, 'renter')])
    const [k] = JSON.parse(keys.stdout).keys
    assert.ok(k.revokedAt != null)
    assert.ok(BigInt(k.spend.total) >= 1000n, 'its spend is on record after the gateway stopped')
  })
})
