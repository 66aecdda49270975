import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import type { Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { getBalance } from 'viem/actions'
import { RENTER_STORE_DIR } from '../../src/client/index.js'
import { resolveConfig } from '../../src/daemon/config.js'
import { createDaemon, type Daemon } from '../../src/daemon/daemon.js'
import { getChannel } from '../../src/pay/actions/get-channel.js'
import { createPayPublicClient } from '../../src/pay/clients.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { openRenterPayments } from '../../src/pay/payment-state.js'
import type { SettlementResult } from '../../src/pay/settler.js'
import { addModel } from '../compute/onnx-builder.js'
import { REPO_ROOT } from '../helpers/cli.js'

const RENTER = join(REPO_ROOT, 'dist', 'test', 'helpers', 'renter-process.js')
// High enough that a broken lease's few seconds pay for their settlement's gas (the provider settles only then).
const PRICE = 1_000_000_000_000n

describe('a renter that crashes mid-lease (kill -9)', () => {
  let chain: DevChain
  let daemon: Daemon
  const settlements: SettlementResult[] = []

  before(async () => {
    chain = await startDevChain()
    const dataDir = await mkdtemp(join(tmpdir(), 'pb-crash-provider-'))
    daemon = createDaemon({
      config: resolveConfig(dataDir, {
        listen: ['/ip4/127.0.0.1/tcp/0'],
        offer: { pricePerSecond: String(PRICE), threads: 2, maxLeaseSeconds: 60 },
      }),
      chain,
      account: privateKeyToAccount(chain.accounts[2]!.privateKey),
      onEvent: (e) => {
        if (e.type === 'settle:settled') settlements.push(e.result)
      },
    })
    await daemon.start()
  })

  after(async () => {
    await daemon?.stop()
    await chain?.stop()
  })

  it('ends the lease RENTER_GONE and the provider settles its best proof; renter spent = provider got = proofs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pb-crash-renter-'))
    const modelFile = join(dir, 'add.onnx')
    await writeFile(modelFile, addModel())
    const payout = privateKeyToAccount(chain.accounts[2]!.privateKey).address
    const publicClient = createPayPublicClient(chain)
    const balanceBefore = await getBalance(publicClient, { address: payout })

    const renter = spawn(
      process.execPath,
      [
        RENTER,
        JSON.stringify({
          dataDir: dir,
          chain: { rpcUrl: chain.rpcUrl, chainId: chain.chainId, contract: chain.contract },
          privateKey: chain.accounts[1]!.privateKey,
          provider: daemon.node.getMultiaddrs()[0]!.toString(),
          maxPricePerSecond: String(PRICE),
          model: modelFile,
        }),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    const exited = new Promise((resolve) => renter.once('exit', resolve))
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: renter.stdout! }).once('line', resolve)
      renter.once('exit', (code) => reject(new Error(`renter exited ${code}`)))
    })
    const { leaseId, channelId, y } = JSON.parse(line) as { leaseId: Hex; channelId: Hex; y: number[] }
    assert.deepEqual(y, [2, 3, 4, 5, 6, 7], 'the model was pushed under the lease and ran')

    // A few paid seconds, then the renter dies without a word.
    await new Promise((r) => setTimeout(r, 2_600))
    renter.kill('SIGKILL')
    await exited

    const deadline = Date.now() + 15_000
    let ended = daemon.leaseList().find((l) => l.leaseId === leaseId && l.state === 'ended')
    while ((ended == null || settlements.length === 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100))
      ended = daemon.leaseList().find((l) => l.leaseId === leaseId && l.state === 'ended')
    }
    assert.equal(ended?.endReason, 'RENTER_GONE')
    assert.ok(ended!.ticksPaid >= 2, `paid ${ended!.ticksPaid} ticks`)
    assert.equal(ended!.amountPaid, BigInt(ended!.ticksPaid) * PRICE)

    // The provider settled on its own, exactly what it accepted.
    assert.equal(settlements.length, 1)
    assert.equal(settlements[0]!.channelId, channelId)
    assert.equal(settlements[0]!.reason, 'lease-broken')
    const accepted = daemon.receiver!.channelTotal(channelId)
    assert.equal(accepted, ended!.amountPaid)
    assert.equal(settlements[0]!.paid, accepted)
    const onChain = await getChannel(publicClient, { contract: chain.contract, channelId })
    assert.equal(onChain.settled, accepted)
    const receipt = await publicClient.getTransactionReceipt({ hash: settlements[0]!.transactionHash })
    const balanceAfter = await getBalance(publicClient, { address: payout })
    assert.equal(balanceAfter - balanceBefore, accepted - receipt.gasUsed * receipt.effectiveGasPrice)

    // The renter's own records (read after its death): it authorised what was settled, or one tick more that
    // never reached the provider.
    const renterPayments = await openRenterPayments({
      chain,
      account: privateKeyToAccount(chain.accounts[1]!.privateKey),
      storeDir: join(dir, RENTER_STORE_DIR),
    })
    try {
      const authorised = renterPayments.sender.channelTotal(channelId)
      assert.ok(authorised - onChain.settled >= 0n && authorised - onChain.settled <= PRICE, `${authorised}`)
    } finally {
      await renterPayments.stop()
    }
  })
})
