import { type ConfigInput, readConfigFile, resolveConfig } from '../daemon/config.js'
import { createDaemon } from '../daemon/daemon.js'
import { resolveDataDir } from '../daemon/data-dir.js'
import { paymentTermsFromChain } from '../daemon/payment-terms.js'
import { type Command, integerFlag, stringFlag, stringListFlag, toJson } from './command.js'
import { DATA_DIR_OPTION, JSON_OPTION } from './common-options.js'

export const startCommand: Command = {
  name: 'start',
  summary: "Run the daemon: join the network and sell this machine's compute until SIGINT/SIGTERM.",
  usage: 'parkbench start [--listen ADDR...] [--bootstrap ADDR...] [--price N] [--free] [--json]',
  options: {
    ...DATA_DIR_OPTION,
    listen: {
      type: 'string',
      multiple: true,
      valueName: 'ADDR',
      description: 'Multiaddr to listen on (default /ip4/0.0.0.0/tcp/0)',
    },
    bootstrap: {
      type: 'string',
      multiple: true,
      valueName: 'ADDR',
      description: 'Peer to join through (/ip4/.../tcp/.../p2p/...)',
    },
    mdns: { type: 'boolean', description: 'Find peers on the LAN by mDNS (multicast)' },
    price: { type: 'string', valueName: 'N', description: 'Price per second in token base units (default 1 gwei)' },
    threads: { type: 'string', valueName: 'N', description: 'Cores offered (default: all but one)' },
    'max-lease-seconds': { type: 'string', valueName: 'N', description: 'Longest lease sold (default 600)' },
    region: { type: 'string', valueName: 'NAME', description: 'Coarse region hint shown to renters' },
    chain: {
      type: 'string',
      valueName: 'FILE',
      description: 'Chain config saved by `parkbench chain` (default <data-dir>/chain.json)',
    },
    'private-key': {
      type: 'string',
      valueName: 'HEX',
      description: 'EVM key paid by channels (default <data-dir>/evm.key)',
    },
    payout: { type: 'string', valueName: 'ADDR', description: 'EVM address paid by channels (instead of --chain)' },
    'chain-id': { type: 'string', valueName: 'ID', description: 'EVM chain id of the payment contract' },
    contract: { type: 'string', valueName: 'ADDR', description: 'PaymentChannel contract address' },
    token: { type: 'string', valueName: 'ADDR', description: 'ERC-20 to be paid in (default: native coin)' },
    'no-sell': { type: 'boolean', description: 'Join the network without selling' },
    free: { type: 'boolean', description: 'Serve inference without a paid lease (trusted LAN or tests only)' },
    ...JSON_OPTION,
  },
  async run(args, io) {
    const dataDir = resolveDataDir(stringFlag(args, 'data-dir'), io.env)
    const flags: ConfigInput = { offer: {}, payment: {}, compute: {} }
    const listen = stringListFlag(args, 'listen')
    const bootstrap = stringListFlag(args, 'bootstrap')
    if (listen.length > 0) flags.listen = listen
    if (bootstrap.length > 0) flags.bootstrap = bootstrap
    if (args.values.mdns === true) flags.mdns = true
    if (args.values['no-sell'] === true) flags.sell = false
    if (args.values.free === true) flags.compute = { freeMode: true }
    const offer = flags.offer!
    const payment = flags.payment!
    const price = stringFlag(args, 'price')
    if (price != null) offer.pricePerSecond = price
    const threads = integerFlag(args, 'threads')
    if (threads != null) offer.threads = threads
    const maxLease = integerFlag(args, 'max-lease-seconds')
    if (maxLease != null) offer.maxLeaseSeconds = maxLease
    const region = stringFlag(args, 'region')
    if (region != null) offer.region = region
    const payout = stringFlag(args, 'payout')
    if (payout != null) payment.payoutAddress = payout
    const chainId = stringFlag(args, 'chain-id')
    if (chainId != null) payment.chainId = chainId
    const contract = stringFlag(args, 'contract')
    if (contract != null) payment.channelContract = contract
    const token = stringFlag(args, 'token')
    if (token != null) payment.token = token

    let config = resolveConfig(dataDir, await readConfigFile(dataDir), flags)
    if (config.sell && config.payment == null) {
      // No explicit payment terms: be paid to this node's EVM account through the configured chain.
      const payment = await paymentTermsFromChain({
        dataDir,
        chainFile: stringFlag(args, 'chain'),
        privateKey: stringFlag(args, 'private-key'),
        token: token as `0x${string}` | undefined,
        env: io.env,
      })
      config = { ...config, payment }
    }
    const daemon = createDaemon(config)
    await daemon.start()
    const status = await daemon.status()
    if (args.values.json === true) {
      io.stdout(`${JSON.stringify(JSON.parse(toJson(status)))}\n`)
    } else {
      io.stdout(`parkbench node ${status.peerId}\n`)
      for (const addr of status.addresses) io.stdout(`  listening on ${addr}\n`)
      io.stdout(
        status.offer != null
          ? `  selling ${status.offer.threads} threads at ${status.offer.pricePerSecond} base units/s (${status.offer.tokenSymbol})\n`
          : '  not selling\n',
      )
      io.stdout('Press Ctrl+C to stop.\n')
    }
    await new Promise<void>((resolve) => {
      if (io.signal.aborted) resolve()
      io.signal.addEventListener('abort', () => resolve(), { once: true })
    })
    await daemon.stop()
    if (args.values.json !== true) io.stdout('stopped\n')
    return 0
  },
}
