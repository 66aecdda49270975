/**
 * A signal that aborts when any of `signals` does, or after `timeoutMs`. Unlike `AbortSignal.any`, whose composite
 * signals Node 20 holds only weakly (a composite of a composite can be collected and never fire), the sources
 * here hold the result through their listeners until `clear()`, which every caller must call when done.
 */
export function linkSignals(
  signals: Array<AbortSignal | undefined>,
  timeoutMs?: number,
): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController()
  const sources = signals.filter((s): s is AbortSignal => s !== undefined)
  const onAbort = (event: Event): void => controller.abort((event.target as AbortSignal).reason)
  let timer: ReturnType<typeof setTimeout> | undefined
  const clear = (): void => {
    for (const s of sources) s.removeEventListener('abort', onAbort)
    if (timer !== undefined) clearTimeout(timer)
  }
  for (const s of sources) {
    if (s.aborted) {
      controller.abort(s.reason)
      return { signal: controller.signal, clear }
    }
    s.addEventListener('abort', onAbort, { once: true })
  }
  if (timeoutMs !== undefined) {
    timer = setTimeout(() => controller.abort(new DOMException('The operation timed out', 'TimeoutError')), timeoutMs)
  }
  controller.signal.addEventListener('abort', clear, { once: true })
  return { signal: controller.signal, clear }
}
