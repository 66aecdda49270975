import { type ClientInferResult, type ClientProgressEvent, createClient } from '../client/index.js'
import type { InferResult } from '../compute/infer.js'
import { inspectModel } from '../compute/inspect-model.js'
import { isSha256Hex } from '../compute/model-store.js'
import { sha256OfFile } from '../compute/sha256-file.js'
import { resolveDataDir } from '../daemon/data-dir.js'
import { InvalidInputError } from '../errors.js'
import { NATIVE_UNITS } from '../pay/amounts.js'
import { RATE_HELP, rateFlag, showAmount, showRate } from './amounts.js'
import { CHAIN_OPTIONS, chainContext } from './channel-common.js'
import { type Command, stringFlag, stringListFlag, toJson } from './command.js'
import {
  AMINO_OPTIONS,
  aminoFlags,
  DATA_DIR_OPTION,
  DISCOVERY_OPTIONS,
  JSON_OPTION,
  peerAddressFlag,
} from './common-options.js'
import { parseInputFlag, readInputs, tensorToJson } from './infer-tensors.js'
import { createProgress } from './progress.js'

function preview(data: unknown[]): string {
  const shown = data.slice(0, 8).map((v) => (typeof v === 'number' ? Number(v.toPrecision(6)) : v))
  return `[${shown.map((v) => JSON.stringify(v)).join(', ')}${data.length > 8 ? `, ... (${data.length} values)` : ''}]`
}

export const inferCommand: Command = {
  name: 'infer',
  summary:
    'Run one inference: lease the best provider nearby (or --peer), pay it by the second, print the outputs and the cost.',
  usage:
    'parkbench infer --model FILE|HASH --input FILE... (--bootstrap ADDR... | --mdns | --amino | --peer ADDR) [--max-price RATE] [--json]',
  options: {
    peer: {
      type: 'string',
      valueName: 'ADDR',
      description: 'Use this provider (multiaddr with its /p2p/ id); one that sells nothing is asked unpaid',
    },
    ...DISCOVERY_OPTIONS,
    ...AMINO_OPTIONS,
    'max-price': {
      type: 'string',
      valueName: 'RATE',
      description: `Most to pay per second of lease (required to pay; ${RATE_HELP})`,
    },
    ...DATA_DIR_OPTION,
    ...CHAIN_OPTIONS,
    model: {
      type: 'string',
      valueName: 'FILE|HASH',
      description: 'The model: its sha256, or an .onnx file (pushed to the provider if it lacks it)',
    },
    input: {
      type: 'string',
      multiple: true,
      valueName: '[NAME=]FILE',
      description: 'Inputs: a JSON file {"x": {"dtype","dims","data"}} or an ONNX TensorProto .pb',
    },
    output: { type: 'string', multiple: true, valueName: 'NAME', description: 'Only these outputs (default all)' },
    'timeout-ms': { type: 'string', valueName: 'MS', description: 'Give up after this long (default 60000)' },
    ...JSON_OPTION,
  },
  async run(args, io) {
    const peerFlag = stringFlag(args, 'peer')
    const modelFlag = stringFlag(args, 'model')
    const inputFlags = stringListFlag(args, 'input')
    const bootstrap = stringListFlag(args, 'bootstrap')
    if (modelFlag === undefined || inputFlags.length === 0) {
      throw new InvalidInputError('infer needs --model FILE|HASH and at least one --input FILE')
    }
    const amino = aminoFlags(args)
    if (peerFlag === undefined && bootstrap.length === 0 && args.values.mdns !== true && amino == null) {
      throw new InvalidInputError('No way to find providers: pass --bootstrap ADDR, --mdns, --amino or --peer ADDR')
    }
    const peer = peerFlag === undefined ? undefined : peerAddressFlag(peerFlag, '--peer')
    for (const addr of bootstrap) peerAddressFlag(addr, '--bootstrap')
    // The client pays in the native coin: the ceiling is read in its units.
    const maxPrice = rateFlag(args, 'max-price', NATIVE_UNITS)
    const timeoutMs = Number(stringFlag(args, 'timeout-ms') ?? 60_000)
    const signal = AbortSignal.any([io.signal, AbortSignal.timeout(timeoutMs)])
    const modelIsHash = isSha256Hex(modelFlag.toLowerCase())
    const modelFile = modelIsHash ? undefined : modelFlag
    const sha256 = modelFile === undefined ? modelFlag.toLowerCase() : await sha256OfFile(modelFile)
    // With the model file at hand, unnamed .pb inputs can be matched to the model's inputs by position.
    const inputNames = modelFile === undefined ? undefined : (await inspectModel(modelFile)).inputs.map((i) => i.name)
    const inputs = await readInputs(inputFlags.map(parseInputFlag), inputNames, { signal })
    const outputNames = stringListFlag(args, 'output')

    const json = args.values.json === true
    const print = (result: InferResult, extra: Record<string, unknown>, costLine?: string): number => {
      const outputs = Object.fromEntries(Object.entries(result.outputs).map(([name, t]) => [name, tensorToJson(t)]))
      if (json) {
        io.stdout(`${toJson({ ...extra, model: sha256, timing: result.timing, outputs })}\n`)
        return 0
      }
      for (const [name, t] of Object.entries(outputs))
        io.stdout(`${name}: ${t.dtype}[${t.dims.join(',')}] ${preview(t.data)}\n`)
      const { queueMs, runMs, totalMs } = result.timing
      io.stdout(`queue ${queueMs.toFixed(2)} ms, run ${runMs.toFixed(2)} ms, round trip ${totalMs.toFixed(2)} ms\n`)
      if (costLine != null) io.stdout(`${costLine}\n`)
      return 0
    }

    const bar = createProgress(io, { json })
    const progress = (e: ClientProgressEvent): void => {
      if (json) return
      if (e.type === 'channel:opening') {
        bar.spin(`opening a channel to ${e.payoutAddress} (deposit ${showAmount(e.deposit, NATIVE_UNITS)})`)
      }
      if (e.type === 'model:pushing') bar.bar(`pushing the model to ${e.providerPeer.slice(-8)}`, e.bytes, e.totalBytes)
      if (
        e.type === 'channel:opened' ||
        e.type === 'model:pushed' ||
        e.type === 'failover' ||
        e.type === 'lease:failed'
      ) {
        bar.done()
      }
      if (e.type === 'channel:opened') {
        io.stderr(`opened channel ${e.channelId} (deposit ${showAmount(e.deposit, NATIVE_UNITS)})\n`)
      }
      if (e.type === 'model:pushed') io.stderr(`pushed the model to ${e.providerPeer}\n`)
      if (e.type === 'failover') io.stderr(`provider ${e.from} failed (${e.error}); trying the next\n`)
    }
    // The chain and account are needed only to pay: with no --max-price, only a free provider can be asked.
    const dataDir = resolveDataDir(stringFlag(args, 'data-dir'), io.env)
    const ctx = maxPrice == null ? undefined : await chainContext(args, io.env)
    const client = await createClient({
      dataDir,
      ...(ctx != null ? { chain: ctx.chain, account: ctx.account } : {}),
      bootstrap,
      mdns: args.values.mdns === true,
      ...(amino != null ? { amino } : {}),
      leaseSeconds: 10,
      onEvent: (e) => {
        if (e.type === 'warning') io.stderr(`parkbench: ${e.message}\n`)
      },
    })
    try {
      // A provider that sells nothing (a trusted LAN box started with --free) is asked directly, unpaid.
      if (peer !== undefined && !(await client.sells(peer, { signal }))) {
        const result = await client.inferUnpaid(
          { provider: peer, model: modelFile ?? sha256, inputs, ...(outputNames.length > 0 ? { outputNames } : {}) },
          { signal, onProgress: progress },
        )
        return print(result, { peer: peerFlag, paid: false })
      }
      if (maxPrice == null) {
        throw new InvalidInputError('--max-price RATE is required to lease: the most to pay per second, e.g. 10gwei/s')
      }
      const result: ClientInferResult = await client.infer(
        {
          model: modelFile ?? sha256,
          inputs,
          maxPricePerSecond: maxPrice,
          ...(outputNames.length > 0 ? { outputNames } : {}),
          ...(peer !== undefined ? { provider: peer } : {}),
        },
        { signal, onProgress: progress },
      )
      await client.close()
      const lease = client.leaseHistory().find((l) => l.leaseId === result.leaseId)
      return print(
        result,
        { provider: result.providerPeer, leaseId: result.leaseId, lease, paid: true },
        lease == null
          ? undefined
          : `leased ${result.providerPeer} at ${showRate(lease.pricePerSecond, NATIVE_UNITS)}: paid ${showAmount(lease.amountPaid, NATIVE_UNITS)} for ${lease.ticksSent} ticks`,
      )
    } finally {
      bar.done()
      await client.close()
    }
  },
}
