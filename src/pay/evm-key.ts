import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type Hex, isHex } from 'viem'
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts'
import { InvalidInputError } from '../errors.js'
import { EVM_KEY_FILE, PRIVATE_KEY_ENV } from './constants.js'

function checkKey(value: string, where: string): Hex {
  const key = value.trim()
  if (!isHex(key) || key.length !== 66) throw new InvalidInputError(`${where} is not a 32-byte hex private key`)
  return key
}

/**
 * The node's EVM key from `<dataDir>/evm.key` (hex, mode 0600), created on first use. It pays (renter) and
 * settles (provider) on the payment channel contract.
 */
export async function loadOrCreateEvmKey(dataDir: string): Promise<Hex> {
  const file = join(dataDir, EVM_KEY_FILE)
  try {
    return checkKey(await readFile(file, 'utf8'), file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const key = generatePrivateKey()
  try {
    // `wx` refuses to overwrite a key another process created in the meantime.
    await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return checkKey(await readFile(file, 'utf8'), file)
    throw err
  }
  await chmod(file, 0o600)
  return key
}

export interface ResolveEvmAccountOptions {
  /** `--private-key` */
  privateKey?: string | undefined
  dataDir: string
  env?: NodeJS.ProcessEnv
}

/** `--private-key`, else `$PARKBENCH_PRIVATE_KEY`, else the data dir's evm.key. */
export async function resolveEvmAccount(options: ResolveEvmAccountOptions): Promise<PrivateKeyAccount> {
  const env = options.env ?? process.env
  if (options.privateKey != null && options.privateKey !== '') {
    return privateKeyToAccount(checkKey(options.privateKey, '--private-key'))
  }
  const fromEnv = env[PRIVATE_KEY_ENV]
  if (fromEnv != null && fromEnv !== '') return privateKeyToAccount(checkKey(fromEnv, PRIVATE_KEY_ENV))
  return privateKeyToAccount(await loadOrCreateEvmKey(options.dataDir))
}
