import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

/** The environment variable that names the data dir when `--data-dir` is not given. */
export const DATA_DIR_ENV = 'PARKBENCH_HOME'

/** `--data-dir` first, then `$PARKBENCH_HOME`, then `~/.parkbench`. */
export function resolveDataDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag != null && flag !== '') return resolve(flag)
  const fromEnv = env[DATA_DIR_ENV]
  if (fromEnv != null && fromEnv !== '') return resolve(fromEnv)
  return join(homedir(), '.parkbench')
}
