import type { OptionSpec } from './command.js'

export const DATA_DIR_OPTION: Record<string, OptionSpec> = {
  'data-dir': {
    type: 'string',
    valueName: 'DIR',
    description: 'Data dir (keys, models, payments). Default $PARKBENCH_HOME or ~/.parkbench',
  },
}

export const JSON_OPTION: Record<string, OptionSpec> = {
  json: { type: 'boolean', description: 'Print machine-readable JSON' },
}
