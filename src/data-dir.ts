import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

/**
 * A node's data dir: every file and folder parkbench keeps in it, in one place. Each part reads and writes only its
 * own entries; `parkbench` commands find the data dir with {@link resolveDataDir}.
 */
export const DATA_DIR_LAYOUT = {
  /** The libp2p peer key (Ed25519, protobuf), mode 0600: the node's identity. */
  peerKey: 'peer.key',
  /** The EVM key (hex), mode 0600: receives payouts, funds channels, signs payments. */
  evmKey: 'evm.key',
  /** The chain config `parkbench chain` saves (RPC URL, chain id, contracts). */
  chainConfig: 'chain.json',
  /** The daemon's config: every field optional, flags override it. */
  config: 'config.json',
  /** Models by hash: `<sha256>.onnx` with `<sha256>.json` beside it. */
  models: 'models',
  /** The provider's payment store, one LevelDB per chain identity below it. */
  providerPayments: 'payments',
  /** The renter's payment store, one LevelDB per chain identity below it. */
  renterPayments: 'renter-payments',
  /** The renter's known channels and pending opens. */
  channels: 'channels.json',
  /** Ended leases, sold and rented, one JSON object a line (rotated to `leases.jsonl.1`). */
  leaseLog: 'leases.jsonl',
  /** The running daemon's control socket, mode 0600. */
  controlSocket: 'control.sock',
  /** The owner console's access token (random, base64url), mode 0600, created at the first start with a console. */
  consoleToken: 'console.token',
  /** The resource policy's time sold today (its daily cap survives a restart). */
  policyState: 'policy-state.json',
  /** The owner console's earnings samples (lifetime totals over time), one JSON object a line. */
  earningsLog: 'earnings.jsonl',
} as const

/** The environment variable that names the data dir when `--data-dir` is not given. */
export const DATA_DIR_ENV = 'PARKBENCH_HOME'

/** `--data-dir` first, then `$PARKBENCH_HOME`, then `~/.parkbench`. */
export function resolveDataDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag != null && flag !== '') return resolve(flag)
  const fromEnv = env[DATA_DIR_ENV]
  if (fromEnv != null && fromEnv !== '') return resolve(fromEnv)
  return join(homedir(), '.parkbench')
}

/** The path of one entry of a data dir. */
export function dataDirPath(dataDir: string, entry: keyof typeof DATA_DIR_LAYOUT): string {
  return join(dataDir, DATA_DIR_LAYOUT[entry])
}
