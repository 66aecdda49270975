import type { CommandIo } from './command.js'

/**
 * Progress bars and spinners on stderr, for a person at a terminal. Quiet when stderr is not a terminal, with
 * `--json`, or with PARKBENCH_PROGRESS=0; PARKBENCH_PROGRESS=1 forces them on (tests, `script`, terminals that do
 * not say they are one). Written here, not with cli-progress: the CLI writes through `CommandIo` functions (so tests
 * capture it), not to a stream with cursor methods, and a bar and a spinner are a few lines.
 */
export interface Progress {
  /** Show (or advance) a byte bar: `label [#####-----]  45%  2.1/4.7 MiB`. */
  bar(label: string, bytes: number, totalBytes: number): void
  /** Show a spinner with this label until the next call (it turns while a chain call or a load runs). */
  spin(label: string): void
  /** Clear the bar or spinner; print `line` in its place (kept, with a newline) if given. */
  done(line?: string): void
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']
const BAR_WIDTH = 24
const CLEAR = '\r\u001b[2K'
const SPIN_MS = 100

const QUIET: Progress = { bar() {}, spin() {}, done() {} }

/** Whether progress goes to this command's stderr. */
export function progressEnabled(io: CommandIo, json: boolean): boolean {
  if (json) return false
  const forced = io.env.PARKBENCH_PROGRESS
  if (forced === '1') return true
  if (forced === '0') return false
  return io.stderrIsTTY === true
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1)
}

/** A progress display on `io.stderr`, or one that prints nothing (see {@link progressEnabled}). */
export function createProgress(io: CommandIo, options: { json?: boolean } = {}): Progress {
  if (!progressEnabled(io, options.json === true)) return QUIET
  let timer: NodeJS.Timeout | undefined
  let frame = 0
  let shown = ''
  const show = (text: string): void => {
    if (text === shown) return
    shown = text
    io.stderr(`${CLEAR}${text}`)
  }
  const stopSpinner = (): void => {
    if (timer != null) clearInterval(timer)
    timer = undefined
  }
  return {
    bar(label, bytes, totalBytes) {
      stopSpinner()
      const fraction = totalBytes > 0 ? Math.min(1, Math.max(0, bytes / totalBytes)) : 1
      const filled = Math.round(fraction * BAR_WIDTH)
      const percent = `${Math.floor(fraction * 100)}%`.padStart(4)
      // Redrawn only when what it shows changes: one line per percent and tenth of a MiB, not per chunk.
      show(
        `${label} [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${percent}  ${mib(bytes)}/${mib(totalBytes)} MiB`,
      )
    },
    spin(label) {
      stopSpinner()
      frame = 0
      show(`${SPINNER[0]} ${label}`)
      timer = setInterval(() => {
        frame = (frame + 1) % SPINNER.length
        show(`${SPINNER[frame]} ${label}`)
      }, SPIN_MS)
      // A spinner never keeps the process alive.
      timer.unref()
    },
    done(line) {
      stopSpinner()
      if (shown !== '') io.stderr(CLEAR)
      shown = ''
      if (line != null) io.stderr(`${line}\n`)
    },
  }
}
