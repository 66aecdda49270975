import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { INFER_PROTOCOL } from '../../src/compute/constants.js'
import { identityModel } from '../../src/compute/onnx-builder.js'
import { startNatMarket } from '../helpers/nat-market.js'
import { natLabSupport } from '../helpers/netns.js'
import { percentile, printTable, round } from './stats.js'

/**
 * Reach: a renter behind a cone NAT rents from a provider that is public, behind a cone NAT, behind a symmetric NAT
 * and behind two NATs (carrier-grade + home), in a NAT lab of network namespaces (real Linux NAT, no shaping: the
 * lab's links are veths, so relay costs show as CPU and extra hops, not distance). For each: time to the first paid
 * result (dial, offer, channel open, lease, model push, run: everything after discovery), then latency and
 * throughput of requests on the held lease with a 4 KB and a 602 KB (SqueezeNet-sized) input, and whether the
 * lease ran on a direct connection (a hole punch upgraded it: src/net/hole-punch.ts) or relayed. Needs root.
 */
const PRICE = 1_000_000_000_000n
const REQUESTS = 40
const SIZES = [1024, 150_528]
const RENTER_SCRIPT = fileURLToPath(new URL('./reach-renter.js', import.meta.url))

export async function run(): Promise<object> {
  const support = await natLabSupport()
  if (!support.ok) throw new Error(`The reach benchmark needs a NAT lab: ${support.reason}`)
  const dir = await mkdtemp(join(tmpdir(), 'pb-bench-reach-'))
  const modelFile = join(dir, 'identity.onnx')
  await writeFile(modelFile, identityModel(['float32']))
  // NATs that drop unsolicited packets, so that a hole punch can work on the lab's zero-latency links
  // (docs/hole-punch.md); REACH_UNSOLICITED=reject measures NATs that answer them with a RST.
  const unsolicited = process.env.REACH_UNSOLICITED === 'reject' ? 'reject' : 'drop'
  const market = await startNatMarket({
    lans: [
      { name: 'r', nat: 'cone', unsolicited },
      { name: 'a', nat: 'cone', unsolicited },
      { name: 's', nat: 'symmetric', unsolicited },
      { name: 'd', doubleNat: true, unsolicited },
    ],
    providers: [
      { host: 'pub', price: PRICE, public: true },
      { host: 'a', price: PRICE },
      { host: 's', price: PRICE },
      { host: 'd', price: PRICE },
    ],
    renters: ['r'],
    modelFile,
  })
  try {
    const cases = { pub: 'public', a: 'behind a cone NAT', s: 'behind a symmetric NAT', d: 'behind two NATs' }
    const targets = []
    for (const provider of market.providers) {
      const addr = provider.directAddr ?? (await market.relayedAddress(provider))
      targets.push({ name: provider.host, addr })
    }
    const args = {
      dataDir: market.renterDirs.r!,
      targets,
      model: modelFile,
      sizes: SIZES,
      requests: REQUESTS,
      maxPricePerSecond: String(PRICE),
    }
    const out = await market.lab.exec('r', [process.execPath, RENTER_SCRIPT, JSON.stringify(args)], {
      timeoutMs: 300_000,
      ...(process.env.REACH_DEBUG != null ? { env: { ...process.env, DEBUG: process.env.REACH_DEBUG } } : {}),
    })
    if (process.env.REACH_DEBUG != null) await writeFile(join(tmpdir(), 'reach-renter.log'), out.stderr)
    if (out.code !== 0) throw new Error(`renter failed (${out.code}): ${out.stderr}`)
    const measured = JSON.parse(out.stdout) as Array<{
      name: keyof typeof cases
      error?: string
      firstMs?: number
      firstDirect?: boolean
      sizes?: Array<{ floats: number; bytes: number; latencies: number[]; totalMs: number }>
      connections?: Array<{ remoteAddr: string; limited: boolean; protocols: string[] }>
    }>
    const rows = measured.map((m) => {
      const bySize = Object.fromEntries(
        (m.sizes ?? []).map((s) => [
          s.bytes,
          {
            p50Ms: round(percentile(s.latencies, 50)),
            p95Ms: round(percentile(s.latencies, 95)),
            requestsPerSecond: round((s.latencies.length / s.totalMs) * 1000, 1),
          },
        ]),
      )
      // Direct when the measured lease's infer stream ran on a connection that is neither relayed nor limited (the
      // relayed connection stays open beside a punched one).
      const direct = (m.connections ?? []).some(
        (c) => !c.limited && !c.remoteAddr.includes('/p2p-circuit') && c.protocols.includes(INFER_PROTOCOL),
      )
      return {
        provider: cases[m.name],
        path: m.firstMs == null ? 'failed' : direct ? 'direct' : 'relayed',
        firstPaidResultMs: m.firstMs != null ? round(m.firstMs) : null,
        firstResultDirect: m.firstDirect ?? false,
        small: bySize[SIZES[0]! * 4],
        large: bySize[SIZES[1]! * 4],
        ...(m.error != null ? { error: m.error } : {}),
        connections: m.connections ?? [],
      }
    })
    printTable(
      'reach: renter behind a cone NAT',
      rows.map((r) => ({
        provider: r.provider,
        path: r.path,
        'first paid ms': r.firstPaidResultMs ?? '-',
        'first direct': r.firstResultDirect ? 'yes' : 'no',
        '4 KB p50/p95 ms': r.small != null ? `${r.small.p50Ms}/${r.small.p95Ms}` : '-',
        '602 KB p50/p95 ms': r.large != null ? `${r.large.p50Ms}/${r.large.p95Ms}` : '-',
        '602 KB req/s': r.large?.requestsPerSecond ?? '-',
      })),
    )
    const natted = rows.filter((r) => r.provider !== 'public' && r.path !== 'failed')
    const direct = rows.find((r) => r.provider === 'public')
    // The relay's cost: leases that stayed relayed against the public provider's direct one.
    const relayedRows = natted.filter((r) => r.path === 'relayed')
    const relayedLarge = relayedRows.map((r) => r.large?.p50Ms).filter((v): v is number => v != null)
    return {
      lab: `network namespaces, veth links, iptables MASQUERADE (cone) and --random-fully (symmetric); no shaping; NATs ${unsolicited} unsolicited packets`,
      requestsPerSize: REQUESTS,
      cases: rows,
      upgradedToDirect: {
        natted: natted.length,
        direct: natted.filter((r) => r.path === 'direct').length,
        share: natted.length === 0 ? 0 : natted.filter((r) => r.path === 'direct').length / natted.length,
      },
      relayOverhead602KB:
        direct?.large != null && relayedLarge.length > 0
          ? {
              directP50Ms: direct.large.p50Ms,
              relayedP50Ms: round(percentile(relayedLarge, 50)),
              addedMs: round(percentile(relayedLarge, 50) - direct.large.p50Ms),
              throughputRatio: round(
                percentile(
                  relayedRows.map((r) => r.large?.requestsPerSecond ?? 0),
                  50,
                ) / direct.large.requestsPerSecond,
              ),
            }
          : null,
    }
  } finally {
    await market.close()
    await rm(dir, { recursive: true, force: true })
  }
}
