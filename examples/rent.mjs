// The README's SDK example, runnable: a local dev chain, one provider selling PaddleOCR v4 text detection, and a
// renter that finds it, pays it by the second and runs the model, first with `client.infer()` (parkbench leases,
// pays and ends the lease by itself), then with a lease it holds. After `npm install parkbench`:
//
//   node node_modules/parkbench/examples/rent.mjs
//
// It prints one JSON line: the provider that served, the output names, and what the held lease cost.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient, createDaemon, resolveConfig, resolveEvmAccount, Tensor } from 'parkbench'
import { demoModelPath, startDevChain } from 'parkbench/dev'

const dir = await mkdtemp(join(tmpdir(), 'parkbench-example-'))
const chain = await startDevChain() // anvil on 127.0.0.1 with the PaymentChannel contract: never real money
try {
  // Sell: a provider daemon holding the model, at 1 gwei per second (the default price).
  const providerDir = join(dir, 'provider')
  const providerAccount = await resolveEvmAccount({ dataDir: providerDir })
  await chain.fund(providerAccount.address)
  const provider = createDaemon({
    config: resolveConfig(providerDir, { listen: ['/ip4/127.0.0.1/tcp/0'] }),
    chain,
    account: providerAccount,
  })
  await provider.start()
  await provider.compute.store.add(demoModelPath(), { name: 'det.onnx' })
  await provider.syncModels()
  const { addresses } = await provider.status()

  // Rent: the README's snippet.
  const dataDir = join(dir, 'renter')
  const account = await resolveEvmAccount({ dataDir }) // <dataDir>/evm.key, created on first use
  await chain.fund(account.address)
  const client = await createClient({ dataDir, chain, account, bootstrap: addresses })
  const tensor = new Tensor('float32', new Float32Array(3 * 320 * 320).fill(0.5), [1, 3, 320, 320])
  const model = demoModelPath()
  const { outputs, providerPeer } = await client.infer({ model, inputs: { x: tensor }, maxPricePerSecond: 10n ** 10n })

  // Or hold a lease yourself: jobs go to that provider only, until you end it.
  const lease = await client.lease({ model, maxPricePerSecond: 10n ** 10n })
  await lease.infer({ inputs: { x: tensor } })
  const { amountPaid, ticksSent } = await lease.end()
  await client.close()
  await provider.stop()
  console.log(
    JSON.stringify({ providerPeer, outputs: Object.keys(outputs), amountPaid: amountPaid.toString(), ticksSent }),
  )
} finally {
  await chain.stop()
  await rm(dir, { recursive: true, force: true })
}
