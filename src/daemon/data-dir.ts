export { DATA_DIR_ENV, resolveDataDir } from '../data-dir.js'
