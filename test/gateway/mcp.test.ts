import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { privateKeyToAccount } from 'viem/accounts'
import { resolveConfig } from '../../src/daemon/config.js'
import { createDaemon, type Daemon } from '../../src/daemon/daemon.js'
import { KeyStore } from '../../src/gateway/index.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { identityModel } from '../compute/onnx-builder.js'
import { PARKBENCH_BIN, writeChainFile } from '../helpers/cli.js'

type ToolAnswer = { isError?: boolean; content: Array<{ type: string; text: string }> }
const textOf = (r: unknown): string => (r as ToolAnswer).content[0]!.text

describe('parkbench mcp: the official MCP client over stdio, with a budget', () => {
  let chain: DevChain
  let provider: Daemon
  let client: Client
  let transport: StdioClientTransport
  const model = identityModel(['float32', 'string'])

  before(async () => {
    chain = await startDevChain()
    const dir = await mkdtemp(join(tmpdir(), 'pb-mcp-'))
    provider = createDaemon({
      config: resolveConfig(join(dir, 'provider'), {
        listen: ['/ip4/127.0.0.1/tcp/0'],
        offer: { pricePerSecond: '1000', threads: 2, maxLeaseSeconds: 60 },
      }),
      chain,
      account: privateKeyToAccount(chain.accounts[2]!.privateKey),
    })
    await provider.start()
    const modelFile = join(dir, 'ident.onnx')
    await writeFile(modelFile, model)
    const renterDir = join(dir, 'renter')
    const keys = await KeyStore.open(renterDir)
    // A budget of two ticks: the first request fits, then the key runs out.
    const { token } = await keys.create('mcp-agent', { maxPricePerSecond: 1000n, maxTotal: 2000n })
    const hub = provider.node.getMultiaddrs()[0]!.toString()
    transport = new StdioClientTransport({
      command: process.execPath,
      args: [
        PARKBENCH_BIN,
        'mcp',
        '--data-dir',
        renterDir,
        '--chain',
        await writeChainFile(chain, dir),
        '--private-key',
        chain.accounts[1]!.privateKey,
        '--bootstrap',
        hub,
        '--model',
        `ident=${modelFile}`,
      ],
      env: { PATH: process.env.PATH ?? '', PARKBENCH_API_KEY: token },
      stderr: 'pipe',
    })
    client = new Client({ name: 'parkbench-test', version: '1.0.0' })
    await client.connect(transport)
  })

  after(async () => {
    await client?.close()
    await provider?.stop()
    await chain?.stop()
  })

  it('lists its tools', async () => {
    const { tools } = await client.listTools()
    assert.deepEqual(tools.map((t) => t.name).sort(), ['infer', 'list_models', 'list_offers', 'spend'])
  })

  it('lists models and nearby offers', async () => {
    const models = JSON.parse(textOf(await client.callTool({ name: 'list_models', arguments: {} })))
    assert.deepEqual(
      models.models[0].inputs.map((i: { name: string }) => i.name),
      ['x_float32', 'x_string'],
    )
    let offers: Array<{ providerPeer: string; pricePerSecondWei: string }> = []
    const deadline = Date.now() + 20_000
    while (offers.length === 0 && Date.now() < deadline) {
      offers = JSON.parse(textOf(await client.callTool({ name: 'list_offers', arguments: {} }))).offers
    }
    assert.equal(offers[0]!.providerPeer, provider.node.peerId.toString())
    assert.equal(offers[0]!.pricePerSecondWei, '1000')
  })

  it('runs inference with JSON tensors, says the cost, and refuses once the budget is spent', async () => {
    const args = {
      model: 'ident',
      inputs: [
        { name: 'x_float32', datatype: 'FP32', shape: [2], data: [0.5, -1] },
        { name: 'x_string', datatype: 'BYTES', shape: [1], data: ['agent'] },
      ],
    }
    const first = await client.callTool({ name: 'infer', arguments: args })
    assert.ok(!(first as ToolAnswer).isError, textOf(first))
    const body = JSON.parse(textOf(first))
    const out = Object.fromEntries(body.outputs.map((o: { name: string; data: unknown[] }) => [o.name, o.data]))
    assert.deepEqual(out.y_float32, [0.5, -1])
    assert.deepEqual(out.y_string, ['agent'])
    assert.equal(body.parameters.parkbench_provider, provider.node.peerId.toString())
    assert.ok(BigInt(body.parameters.parkbench_cost_wei) > 0n)

    // The first tick (1000) plus the next reservation (1000) fill the cap of 2000 only if nothing else was paid;
    // requests keep going until the key is out, and the refusal names the cap.
    let refused: ToolAnswer | undefined
    for (let i = 0; i < 200 && refused == null; i++) {
      const r = (await client.callTool({ name: 'infer', arguments: args })) as ToolAnswer
      if (r.isError) refused = r
      else await new Promise((res) => setTimeout(res, 20))
    }
    assert.ok(refused != null)
    const error = JSON.parse(refused.content[0]!.text)
    assert.equal(error.code, 'BUDGET_EXCEEDED')
    assert.equal(error.cap, 'total')
    const spend = JSON.parse(textOf(await client.callTool({ name: 'spend', arguments: {} })))
    assert.equal(spend.key, 'mcp-agent')
    assert.equal(spend.total.capWei, '2000')
    assert.ok(BigInt(spend.total.spentWei) <= 3000n, 'at most one tick over the cap')
  })

  it('a bad tensor is a tool error, and the server keeps serving', async () => {
    const bad = await client.callTool({
      name: 'infer',
      arguments: { model: 'ident', inputs: [{ name: 'x_float32', datatype: 'FP32', shape: [3], data: [1] }] },
    })
    assert.equal((bad as ToolAnswer).isError, true)
    assert.equal(JSON.parse(textOf(bad)).code, 'INVALID_TENSOR')
    const spend = await client.callTool({ name: 'spend', arguments: {} })
    assert.ok(!(spend as ToolAnswer).isError)
  })
})
