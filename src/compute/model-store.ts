import { createHash, randomBytes } from 'node:crypto'
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { dataDirPath } from '../data-dir.js'
import {
  HashMismatchError,
  InvalidInferenceInputError,
  MalformedRequestError,
  ModelNotFoundError,
  TooLargeError,
} from './errors.js'
import { inspectModel, type ModelSignature } from './inspect-model.js'
import type { ModelRecord } from './model-record.js'
import type { TransferProgress } from './model-transfer.js'
import { sha256OfFile } from './sha256-file.js'
import { peerText } from './text.js'

const log = logger('parkbench:compute:store')

/** 256 MiB: larger than any model a phone or laptop provider should serve by default. */
export const DEFAULT_MAX_MODEL_BYTES = 256 * 1024 * 1024

/** Longest display name a model record keeps (peer-provided for pushes): longer ones are cut. */
export const MAX_MODEL_NAME_CHARS = 200

/** Loads a model file with onnxruntime and returns its signature, or throws InvalidModelError. */
export type ModelInspector = (path: string, options: AbortOptions) => Promise<ModelSignature>

export interface ModelStoreInit {
  /** The parkbench data dir; models live in `<dataDir>/models`. */
  dataDir: string
  /** Largest model accepted, in bytes. Default {@link DEFAULT_MAX_MODEL_BYTES}. */
  maxModelBytes?: number
  /** How a new model is checked. Default: onnxruntime in the calling thread; the service passes its worker pool. */
  inspect?: ModelInspector
  /**
   * What the store may hold beyond loading in onnxruntime: a provider holds only what its offer can list (the
   * market's OFFER_CATALOG, given by the daemon and `parkbench model add`). Default: no further limit.
   */
  catalog?: ModelCatalogPolicy
}

/** Limits on the models a store may hold, checked before a model is stored. */
export interface ModelCatalogPolicy {
  /** Throws a typed error (e.g. InvalidModelError) when a model cannot be held. */
  checkModel(model: ModelRecord): void
  /** Throws (e.g. TooLargeError) when the store has no room for one more model (`model`, when known). */
  checkRoom(stored: readonly ModelRecord[], model?: ModelRecord): void
}

const SHA256_HEX = /^[0-9a-f]{64}$/

/** True for a lowercase 64-digit hex string, the form every model address takes. */
export function isSha256Hex(value: string): boolean {
  return SHA256_HEX.test(value)
}

/**
 * Models addressed by the sha256 of their bytes, in `<dataDir>/models/<sha256>.onnx` with `<sha256>.json` (the
 * {@link ModelRecord}) beside it. Every write goes to a temp file that is fsynced and renamed, so a crash leaves
 * either the whole model or none; the record is written after the model, so a listed model is always complete.
 */
export class ModelStore {
  readonly dir: string
  readonly maxModelBytes: number
  private readonly inspect: ModelInspector
  private readonly catalog: ModelCatalogPolicy | undefined
  private readonly records = new Map<string, ModelRecord>()
  /** Settles when the last commit's final check and store have; commits take turns (the room check is theirs). */
  private committing: Promise<void> = Promise.resolve()

  constructor(init: ModelStoreInit) {
    this.dir = dataDirPath(init.dataDir, 'models')
    this.maxModelBytes = init.maxModelBytes ?? DEFAULT_MAX_MODEL_BYTES
    this.inspect = init.inspect ?? ((path) => inspectModel(path))
    this.catalog = init.catalog
  }

  /** Path of a stored model's .onnx file (whether or not it exists). */
  modelPath(sha256: string): string {
    if (!isSha256Hex(sha256)) throw new InvalidInferenceInputError(`Not a sha256 hex string: ${sha256}`)
    return join(this.dir, `${sha256}.onnx`)
  }

  /** The record of a stored model, or undefined. */
  async get(sha256: string): Promise<ModelRecord | undefined> {
    if (!isSha256Hex(sha256)) return undefined
    const cached = this.records.get(sha256)
    if (cached !== undefined) return cached
    try {
      const record = JSON.parse(await readFile(join(this.dir, `${sha256}.json`), 'utf8')) as ModelRecord
      this.records.set(sha256, record)
      return record
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }

  /** The record of a stored model; throws {@link ModelNotFoundError} when there is none. */
  async require(sha256: string): Promise<ModelRecord> {
    const record = await this.get(sha256)
    if (record === undefined) throw new ModelNotFoundError(`No model ${sha256}`)
    return record
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.get(sha256)) !== undefined
  }

  /** Every stored model, oldest first. */
  async list(): Promise<ModelRecord[]> {
    let names: string[]
    try {
      names = await readdir(this.dir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
    const records: ModelRecord[] = []
    for (const name of names) {
      if (!name.endsWith('.json')) continue
      const record = await this.get(name.slice(0, -'.json'.length))
      if (record !== undefined) records.push(record)
    }
    return records.sort((a, b) => a.addedAt.localeCompare(b.addedAt) || a.sha256.localeCompare(b.sha256))
  }

  /** Delete a model and its record. */
  async remove(sha256: string): Promise<boolean> {
    const existed = (await this.get(sha256)) !== undefined
    this.records.delete(sha256)
    await rm(join(this.dir, `${sha256}.json`), { force: true })
    await rm(this.modelPath(sha256), { force: true })
    return existed
  }

  /**
   * Import a model from a file path or from bytes: hash it, check the size limit, check that onnxruntime loads it,
   * store it. Importing a model already stored returns its record.
   */
  async add(
    source: string | Uint8Array,
    meta: { name?: string } = {},
    options: AbortOptions & { onProgress?(event: TransferProgress): void } = {},
  ): Promise<ModelRecord> {
    if (typeof source !== 'string') {
      const sha256 = createHash('sha256').update(source).digest('hex')
      const writer = await this.createWriter(
        { sha256, sizeBytes: source.byteLength, name: meta.name ?? sha256 },
        options,
      )
      try {
        await writer.write(source, options)
        return await writer.commit(options)
      } catch (err) {
        await writer.discard()
        throw err
      }
    }
    const { size } = await stat(source)
    if (size > this.maxModelBytes) throw new TooLargeError(`Model is ${size} bytes; the limit is ${this.maxModelBytes}`)
    options.onProgress?.({ type: 'model:hashing', sha256: '', bytes: 0, totalBytes: size })
    const sha256 = await sha256OfFile(source, options)
    const existing = await this.get(sha256)
    if (existing !== undefined) return existing
    const writer = await this.createWriter({ sha256, sizeBytes: size, name: meta.name ?? basename(source) }, options)
    try {
      const input = await open(source, 'r')
      let copied = 0
      try {
        for await (const chunk of input.createReadStream({ autoClose: false, highWaterMark: 1 << 20 })) {
          await writer.write(chunk as Buffer, options)
          copied += (chunk as Buffer).byteLength
          options.onProgress?.({ type: 'model:receiving', sha256, bytes: copied, totalBytes: size })
        }
      } finally {
        await input.close()
      }
      // Loading it in onnxruntime (to check it) is the slow part for a big model.
      options.onProgress?.({ type: 'model:verifying', sha256, bytes: size, totalBytes: size })
      const record = await writer.commit(options)
      options.onProgress?.({ type: 'model:done', sha256, bytes: size, totalBytes: size })
      return record
    } catch (err) {
      await writer.discard()
      throw err
    }
  }

  /**
   * Start writing a model whose hash and size are announced up front (a model pushed or fetched over the
   * network). The size limit, and that the store has room for one more model in its offer, are checked here,
   * before any byte arrives; `write` refuses bytes past the announced size; `commit` checks size and hash, has
   * onnxruntime load the model, checks it against the offer limits, and only then stores it.
   */
  async createWriter(
    expected: { sha256: string; sizeBytes: number; name: string },
    _options: AbortOptions = {},
  ): Promise<ModelWriter> {
    // A bad field of the request that announced the model.
    if (!isSha256Hex(expected.sha256)) throw new MalformedRequestError(`Not a sha256: ${expected.sha256}`)
    if (!Number.isSafeInteger(expected.sizeBytes) || expected.sizeBytes <= 0) {
      throw new MalformedRequestError(`Bad model size ${expected.sizeBytes}`)
    }
    if (expected.sizeBytes > this.maxModelBytes) {
      throw new TooLargeError(`Model is ${expected.sizeBytes} bytes; the limit is ${this.maxModelBytes}`)
    }
    if (!(await this.has(expected.sha256))) this.catalog?.checkRoom(await this.list())
    await mkdir(this.dir, { recursive: true })
    const name = peerText(expected.name, MAX_MODEL_NAME_CHARS)
    const tempPath = join(this.dir, `.tmp-${randomBytes(8).toString('hex')}.onnx`)
    const file = await open(tempPath, 'wx')
    return new ModelWriter(this, file, tempPath, { ...expected, name }, (path, options) => this.inspect(path, options))
  }

  /**
   * @internal Called by ModelWriter with a loaded model: check that it fits the offer and that the store still has
   * room for it (one commit at a time, so two cannot both take the last place), move it in, store its record.
   */
  async admit(record: ModelRecord, tempPath: string): Promise<ModelRecord> {
    this.catalog?.checkModel(record)
    const turn = this.committing
    let done!: () => void
    this.committing = new Promise((resolve) => {
      done = resolve
    })
    try {
      await turn
      const existing = await this.get(record.sha256)
      if (existing !== undefined) {
        await rm(tempPath, { force: true })
        return existing
      }
      this.catalog?.checkRoom(await this.list(), record)
      await rename(tempPath, this.modelPath(record.sha256))
      await this.storeRecord(record)
      return record
    } finally {
      done()
    }
  }

  /** @internal Called once the model file is in place. */
  async storeRecord(record: ModelRecord): Promise<void> {
    const tempPath = join(this.dir, `.tmp-${randomBytes(8).toString('hex')}.json`)
    const file = await open(tempPath, 'wx')
    try {
      await file.writeFile(`${JSON.stringify(record, null, 2)}\n`)
      await file.sync()
    } finally {
      await file.close()
    }
    await rename(tempPath, join(this.dir, `${record.sha256}.json`))
    await syncDir(this.dir)
    this.records.set(record.sha256, record)
    log('stored model %s (%s, %d bytes)', record.sha256, record.name, record.sizeBytes)
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** A model being written; see {@link ModelStore.createWriter}. */
export class ModelWriter {
  private readonly hash = createHash('sha256')
  private received = 0
  private done = false

  constructor(
    private readonly store: ModelStore,
    private readonly file: FileHandle,
    private readonly tempPath: string,
    readonly expected: { sha256: string; sizeBytes: number; name: string },
    private readonly inspect: ModelInspector,
  ) {}

  /** Bytes written so far. */
  get bytesWritten(): number {
    return this.received
  }

  async write(chunk: Uint8Array, options: AbortOptions = {}): Promise<void> {
    options.signal?.throwIfAborted()
    if (this.received + chunk.byteLength > this.expected.sizeBytes) {
      throw new TooLargeError(`More than the announced ${this.expected.sizeBytes} bytes`)
    }
    this.received += chunk.byteLength
    this.hash.update(chunk)
    await this.file.write(chunk)
  }

  /** Verify and store. Throws {@link HashMismatchError}, InvalidModelError, or an I/O error; the temp file goes. */
  async commit(options: AbortOptions = {}): Promise<ModelRecord> {
    try {
      if (this.received !== this.expected.sizeBytes) {
        throw new InvalidInferenceInputError(`Got ${this.received} of ${this.expected.sizeBytes} bytes`)
      }
      const actual = this.hash.digest('hex')
      if (actual !== this.expected.sha256) {
        throw new HashMismatchError(`Bytes hash to ${actual}, not ${this.expected.sha256}`)
      }
      await this.file.sync()
      await this.file.close()
      this.done = true
      const existing = await this.store.get(actual)
      if (existing !== undefined) {
        await rm(this.tempPath, { force: true })
        return existing
      }
      const signature = await this.inspect(this.tempPath, options)
      const record: ModelRecord = {
        sha256: actual,
        name: this.expected.name,
        sizeBytes: this.received,
        addedAt: new Date().toISOString(),
        ...signature,
      }
      return await this.store.admit(record, this.tempPath)
    } catch (err) {
      await this.discard()
      throw err
    }
  }

  /** Drop the partial model. Safe to call more than once. */
  async discard(): Promise<void> {
    if (!this.done) {
      this.done = true
      await this.file.close().catch(() => {})
    }
    await rm(this.tempPath, { force: true })
  }
}
