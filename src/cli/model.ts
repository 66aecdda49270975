import { ModelStore } from '../compute/model-store.js'
import { resolveDataDir } from '../daemon/data-dir.js'
import { OFFER_CATALOG } from '../market/offerable.js'
import { type Command, integerFlag, stringFlag, toJson } from './command.js'
import { DATA_DIR_OPTION, JSON_OPTION } from './common-options.js'
import { createProgress } from './progress.js'

function formatSpecs(specs: Array<{ name: string; dtype: string; dims: Array<number | string> }>): string {
  return specs.map((s) => `${s.name}:${s.dtype}[${s.dims.join(',')}]`).join(' ')
}

const addCommand: Command = {
  name: 'add',
  summary: 'Import an .onnx model into the data dir (checks that onnxruntime loads it); prints its sha256.',
  usage: 'parkbench model add FILE [--name NAME] [--max-bytes N] [--data-dir DIR] [--json]',
  maxPositionals: 1,
  options: {
    name: { type: 'string', valueName: 'NAME', description: 'Display name (default: the file name)' },
    'max-bytes': { type: 'string', valueName: 'N', description: 'Size limit in bytes (default 256 MiB)' },
    ...DATA_DIR_OPTION,
    ...JSON_OPTION,
  },
  async run(args, io) {
    const file = args.positionals[0]
    if (file === undefined) {
      io.stderr('error: missing FILE. Usage: parkbench model add FILE\n')
      return 2
    }
    const dataDir = resolveDataDir(stringFlag(args, 'data-dir'), io.env)
    const maxModelBytes = integerFlag(args, 'max-bytes')
    // What the daemon will list in its offer: the offer's limits apply here too.
    const store = new ModelStore({
      dataDir,
      catalog: OFFER_CATALOG,
      ...(maxModelBytes === undefined ? {} : { maxModelBytes }),
    })
    const name = stringFlag(args, 'name')
    const progress = createProgress(io, { json: args.values.json === true })
    let record: Awaited<ReturnType<ModelStore['add']>>
    try {
      record = await store.add(file, name === undefined ? {} : { name }, {
        signal: io.signal,
        onProgress: (e) => {
          if (e.type === 'model:hashing') progress.spin(`hashing ${file}`)
          if (e.type === 'model:receiving') progress.bar('copying', e.bytes, e.totalBytes)
          if (e.type === 'model:verifying') progress.spin('loading it in onnxruntime')
        },
      })
    } finally {
      progress.done()
    }
    if (args.values.json === true) {
      io.stdout(`${toJson(record)}\n`)
    } else {
      io.stdout(`${record.sha256}  ${record.name}  ${record.sizeBytes} bytes\n`)
      io.stdout(`  inputs:  ${formatSpecs(record.inputs)}\n  outputs: ${formatSpecs(record.outputs)}\n`)
    }
    return 0
  },
}

const lsCommand: Command = {
  name: 'ls',
  summary: 'List the models in the data dir.',
  usage: 'parkbench model ls [--data-dir DIR] [--json]',
  options: { ...DATA_DIR_OPTION, ...JSON_OPTION },
  async run(args, io) {
    const dataDir = resolveDataDir(stringFlag(args, 'data-dir'), io.env)
    const records = await new ModelStore({ dataDir }).list()
    if (args.values.json === true) {
      io.stdout(`${toJson(records)}\n`)
      return 0
    }
    if (records.length === 0) io.stdout(`No models in ${dataDir}. Add one with: parkbench model add FILE\n`)
    for (const r of records) {
      io.stdout(
        `${r.sha256}  ${r.name}  ${r.sizeBytes} bytes  in: ${formatSpecs(r.inputs)}  out: ${formatSpecs(r.outputs)}\n`,
      )
    }
    return 0
  },
}

export const modelCommand: Command = {
  name: 'model',
  summary: 'Manage the models this node serves, stored by sha256 in the data dir.',
  usage: 'parkbench model <add|ls> [options]',
  subcommands: [addCommand, lsCommand],
}
