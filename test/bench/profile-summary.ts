/**
 * Where a `--cpu-prof` profile's time went: `node dist/test/bench/profile-summary.js FILE.cpuprofile [TOP] [FROM TO]`.
 * Prints self time by package (node_modules/<name>, a parkbench source file, node internals, GC, idle) and the TOP
 * (default 15) functions by self time, in ms and as a share of the busy (non-idle) time. FROM and TO (microseconds
 * of the monotonic clock, `process.hrtime.bigint() / 1000n` in any process on the host, as the lease bench prints
 * them) keep only the samples of one window.
 */
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

function packageOf(url: string, name: string): string {
  if (name === '(idle)' || name === '(garbage collector)' || name === '(program)') return name
  if (url === '') return '(native)'
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (modules !== null) return modules[1]!
  const own = /\/dist\/((?:src|test)\/.*)$/.exec(url)
  if (own !== null) return own[1]!
  if (url.startsWith('node:')) return url
  return url
}

const file = process.argv[2]
if (file === undefined) throw new Error('usage: profile-summary.js FILE.cpuprofile [TOP]')
const top = Number(process.argv[3] ?? 15)
const from = Number(process.argv[4] ?? Number.NEGATIVE_INFINITY)
const to = Number(process.argv[5] ?? Number.POSITIVE_INFINITY)
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const selfUs = new Map<number, number>()
let at = profile.startTime
profile.samples.forEach((id, i) => {
  const delta = profile.timeDeltas[i] ?? 0
  at += delta
  if (at < from || at > to) return
  selfUs.set(id, (selfUs.get(id) ?? 0) + delta)
})
const byPackage = new Map<string, number>()
const byFunction = new Map<string, number>()
let total = 0
let idle = 0
for (const [id, us] of selfUs) {
  const { callFrame } = byId.get(id)!
  total += us
  if (callFrame.functionName === '(idle)') idle += us
  const pkg = packageOf(callFrame.url, callFrame.functionName)
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us)
  const key = `${callFrame.functionName || '(anonymous)'} ${pkg}:${callFrame.lineNumber + 1}`
  byFunction.set(key, (byFunction.get(key) ?? 0) + us)
}
const busy = total - idle
const line = (name: string, us: number): string =>
  `${(us / 1000).toFixed(1).padStart(9)} ms ${((100 * us) / busy).toFixed(1).padStart(5)}%  ${name}\n`
process.stdout.write(
  `${file}\nwall ${(total / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms, busy ${(busy / 1000).toFixed(0)} ms\n\nby package (self)\n`,
)
for (const [name, us] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(line(name, us))
process.stdout.write('\nby function (self)\n')
for (const [name, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(line(name, us))
