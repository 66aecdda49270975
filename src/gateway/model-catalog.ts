import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { AbortOptions } from '@libp2p/interface'
import type { RenterClient } from '../client/client.js'
import { inspectModel, type ModelSignature } from '../compute/inspect-model.js'
import { isSha256Hex } from '../compute/model-store.js'
import { InvalidInputError } from '../errors.js'
import { UnknownModelError } from './errors.js'
import { GATEWAY_DIR } from './key-store.js'

/** The file in `<dataDir>/gateway/` that names local models: `{ "models": { "alias": "/path/model.onnx" } }`. */
export const MODELS_FILE = 'models.json'

/** A model the gateway can name: by alias (a local file, pushed to providers that lack it) or by sha256 alone. */
export interface CatalogModel {
  /** What the request named it. */
  name: string
  sha256: string
  /** The file's bytes, for an alias: the client pushes them to a provider that lacks the model. */
  bytes?: Uint8Array
  signature?: ModelSignature
}

/** Models the gateway serves: aliases for local .onnx files (loaded and inspected once), and any sha256. */
export class ModelCatalog {
  private readonly byAlias = new Map<string, CatalogModel>()
  private readonly bySha = new Map<string, CatalogModel>()

  /** Load `aliases` (alias -> path), plus those in `<dataDir>/gateway/models.json` when `dataDir` is given. */
  static async load(aliases: Record<string, string>, dataDir?: string): Promise<ModelCatalog> {
    const all: Record<string, string> = {}
    if (dataDir != null) {
      const file = join(dataDir, GATEWAY_DIR, MODELS_FILE)
      let text: string | undefined
      try {
        text = await readFile(file, 'utf8')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      }
      if (text != null) {
        let json: unknown
        try {
          json = JSON.parse(text)
        } catch (err) {
          throw new InvalidInputError(`${file}: ${(err as Error).message}`, { cause: err })
        }
        const models = (json as { models?: unknown })?.models
        if (models == null || typeof models !== 'object')
          throw new InvalidInputError(`${file}: expected { "models": {...} }`)
        for (const [alias, path] of Object.entries(models))
          all[alias] = resolve(join(dataDir, GATEWAY_DIR), String(path))
      }
    }
    Object.assign(all, aliases)
    const catalog = new ModelCatalog()
    for (const [alias, path] of Object.entries(all)) {
      if (!/^[\w.-]{1,128}$/.test(alias))
        throw new InvalidInputError(`Model alias "${alias}": letters, digits, "_", "." or "-"`)
      let bytes: Uint8Array
      try {
        bytes = await readFile(path)
      } catch (err) {
        throw new InvalidInputError(`Model ${alias}: cannot read ${path}: ${(err as Error).message}`, { cause: err })
      }
      const model: CatalogModel = {
        name: alias,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        bytes,
        signature: await inspectModel(bytes),
      }
      catalog.byAlias.set(alias, model)
      catalog.bySha.set(model.sha256, model)
    }
    return catalog
  }

  aliases(): CatalogModel[] {
    return [...this.byAlias.values()]
  }

  /**
   * The model a request names: an alias, or a sha256 (a local alias's file if one has that hash, else one that a
   * provider must already hold). Throws {@link UnknownModelError}.
   */
  resolve(name: string): CatalogModel {
    const alias = this.byAlias.get(name)
    if (alias != null) return alias
    const sha = name.toLowerCase()
    if (!isSha256Hex(sha)) {
      throw new UnknownModelError(
        `No model "${name}": name one by its sha256 or by an alias (gateway --model ALIAS=FILE)`,
      )
    }
    return this.bySha.get(sha) ?? { name, sha256: sha }
  }

  /** A model's signature: its file's, or the one a provider's offer states for that sha256. */
  async signature(model: CatalogModel, client: RenterClient, options: AbortOptions = {}): Promise<ModelSignature> {
    if (model.signature != null) return model.signature
    const offers = await client.offers({ model: model.sha256, timeoutMs: 3_000 }, options)
    for (const o of offers) {
      const m = o.offer.models.find((x) => Buffer.from(x.sha256).toString('hex') === model.sha256)
      if (m != null) {
        const spec = (t: (typeof m.inputs)[number]) => ({ name: t.name, dtype: t.dtype, dims: t.dims.map(Number) })
        model.signature = { inputs: m.inputs.map(spec), outputs: m.outputs.map(spec) }
        return model.signature
      }
    }
    throw new UnknownModelError(`No provider nearby holds model ${model.sha256}, and no local alias has that hash`)
  }
}
