import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks'

/** Sampling interval of the event-loop delay histogram, in ms. */
const LOOP_RESOLUTION_MS = 10

/** How busy the daemon's process is: what `parkbench status` and the lease benchmark read. */
export interface DaemonLoad {
  uptimeMs: number
  rssBytes: number
  /** CPU time used since the process started, in microseconds. */
  cpuUserMicros: number
  cpuSystemMicros: number
  /** Event-loop delay since the window began (daemon start, or the last `status({ resetLoad: true })`), in ms. */
  eventLoop: { windowMs: number; meanMs: number; p50Ms: number; p99Ms: number; maxMs: number }
  leases: { active: number; threadsFree: number }
}

/** The process's event-loop delay (a 10 ms sampling timer) and CPU, memory and uptime. */
export class LoadMonitor {
  private loopDelay: IntervalHistogram | undefined
  private windowStart = performance.now()
  private startedAt = Date.now()

  /** `monitor`: sample the event loop (many daemons in one process measure it once for all). */
  start(monitor: boolean): void {
    this.startedAt = Date.now()
    if (monitor) {
      this.loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
      this.loopDelay.enable()
    }
    this.windowStart = performance.now()
  }

  stop(): void {
    this.loopDelay?.disable()
  }

  /** The load now; `reset` starts a new event-loop window. */
  read(reset: boolean, leases: DaemonLoad['leases']): DaemonLoad {
    const h = this.loopDelay
    // The histogram records each sampling interval as it elapsed; the delay is what exceeds the interval.
    const ms = (ns: number): number => Math.max(0, Math.round((ns - LOOP_RESOLUTION_MS * 1e6) / 1e4) / 100)
    const cpu = process.cpuUsage()
    const none = h == null || h.count === 0
    const load: DaemonLoad = {
      uptimeMs: Date.now() - this.startedAt,
      rssBytes: process.memoryUsage.rss(),
      cpuUserMicros: cpu.user,
      cpuSystemMicros: cpu.system,
      eventLoop: {
        windowMs: Math.round(performance.now() - this.windowStart),
        meanMs: none ? 0 : ms(h.mean),
        p50Ms: none ? 0 : ms(h.percentile(50)),
        p99Ms: none ? 0 : ms(h.percentile(99)),
        maxMs: none ? 0 : ms(h.max),
      },
      leases,
    }
    if (reset) {
      h?.reset()
      this.windowStart = performance.now()
    }
    return load
  }
}
