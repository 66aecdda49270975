import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import { multiaddr } from '@multiformats/multiaddr'
import { infer } from '../compute/infer.js'
import { inspectModel } from '../compute/inspect-model.js'
import { isSha256Hex } from '../compute/model-store.js'
import { pushModel } from '../compute/model-transfer.js'
import { InvalidInputError } from '../errors.js'
import { createNode } from '../net/create-node.js'
import { type Command, stringFlag, stringListFlag, toJson } from './command.js'
import { JSON_OPTION } from './common-options.js'
import { parseInputFlag, readInputs, tensorToJson } from './infer-tensors.js'

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256')
  const file = await open(path, 'r')
  try {
    for await (const chunk of file.createReadStream({ autoClose: false })) hash.update(chunk as Buffer)
  } finally {
    await file.close()
  }
  return hash.digest('hex')
}

function preview(data: unknown[]): string {
  const shown = data.slice(0, 8).map((v) => (typeof v === 'number' ? Number(v.toPrecision(6)) : v))
  return `[${shown.map((v) => JSON.stringify(v)).join(', ')}${data.length > 8 ? `, ... (${data.length} values)` : ''}]`
}

export const inferCommand: Command = {
  name: 'infer',
  summary: 'Run one inference on a provider over libp2p and print the outputs.',
  usage: 'parkbench infer --peer ADDR --model FILE|HASH --input FILE... [--output NAME...] [--json]',
  options: {
    peer: { type: 'string', valueName: 'ADDR', description: 'Provider multiaddr with its /p2p/ id' },
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
    if (peerFlag === undefined || modelFlag === undefined || inputFlags.length === 0) {
      throw new InvalidInputError('infer needs --peer ADDR, --model FILE|HASH and at least one --input FILE')
    }
    let peer: ReturnType<typeof multiaddr>
    try {
      peer = multiaddr(peerFlag)
    } catch (err) {
      throw new InvalidInputError(`--peer: not a multiaddr: ${peerFlag}`, { cause: err })
    }
    if (peer.getComponents().find((c) => c.name === 'p2p') === undefined) {
      throw new InvalidInputError('--peer must end in /p2p/<peer id>')
    }
    const timeoutMs = Number(stringFlag(args, 'timeout-ms') ?? 60_000)
    const signal = AbortSignal.any([io.signal, AbortSignal.timeout(timeoutMs)])
    const modelIsHash = isSha256Hex(modelFlag.toLowerCase())
    const modelFile = modelIsHash ? undefined : modelFlag
    const sha256 = modelFile === undefined ? modelFlag.toLowerCase() : await sha256OfFile(modelFile)
    // With the model file at hand, unnamed .pb inputs can be matched to the model's inputs by position.
    const inputNames = modelFile === undefined ? undefined : (await inspectModel(modelFile)).inputs.map((i) => i.name)
    const inputs = await readInputs(inputFlags.map(parseInputFlag), inputNames, { signal })
    const outputNames = stringListFlag(args, 'output')

    const node = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    try {
      const request = { model: sha256, inputs, ...(outputNames.length > 0 ? { outputNames } : {}) }
      let result: Awaited<ReturnType<typeof infer>>
      try {
        result = await infer(node, peer, request, { signal })
      } catch (err) {
        if ((err as { code?: string }).code !== 'MODEL_NOT_FOUND' || modelFile === undefined) throw err
        if (args.values.json !== true) io.stderr(`The provider lacks ${sha256}; pushing ${modelFile}\n`)
        await pushModel(node, peer, modelFile, { signal })
        result = await infer(node, peer, request, { signal })
      }
      const outputs = Object.fromEntries(Object.entries(result.outputs).map(([name, t]) => [name, tensorToJson(t)]))
      if (args.values.json === true) {
        io.stdout(`${toJson({ peer: peerFlag, model: sha256, timing: result.timing, outputs })}\n`)
      } else {
        for (const [name, t] of Object.entries(outputs))
          io.stdout(`${name}: ${t.dtype}[${t.dims.join(',')}] ${preview(t.data)}\n`)
        const { queueMs, runMs, totalMs } = result.timing
        io.stdout(`queue ${queueMs.toFixed(2)} ms, run ${runMs.toFixed(2)} ms, round trip ${totalMs.toFixed(2)} ms\n`)
      }
      return 0
    } finally {
      await node.stop()
    }
  },
}
