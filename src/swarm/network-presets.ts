import { GOSSIPSUB_INTEROP_8_REGIONS, type NetworkConfig, NetworkModel } from './network.js'
import type { Random } from './random.js'
import type { Scenario } from './scenario.js'

/** One region, 2 ms RTT inside it: a LAN or one city. */
export const SINGLE_REGION: NetworkConfig = { regions: [{ name: 'local', weight: 1 }], rttMs: { local: { local: 2 } } }

/**
 * The scenario's network: its preset's regions and matrix (or its own, for `custom`), with the scenario's jitter,
 * loss and bandwidth classes (added to the preset's own classes).
 */
export function networkFor(
  scenario: Scenario,
  random: Random,
): { network: NetworkModel; regions: Array<{ name: string; weight: number }> } {
  const n = scenario.network
  const base: NetworkConfig =
    n.preset === 'gossipsub-interop-8'
      ? GOSSIPSUB_INTEROP_8_REGIONS
      : n.preset === 'single-region'
        ? SINGLE_REGION
        : { regions: n.regions ?? [], rttMs: n.rttMs ?? {} }
  const config: NetworkConfig = {
    regions: base.regions,
    rttMs: base.rttMs,
    jitterMs: n.jitterMs,
    loss: n.loss,
    bandwidthClasses: { ...base.bandwidthClasses, ...n.bandwidthClasses },
  }
  const network = new NetworkModel(config, random.next)
  // Names the scenario uses must exist in the network it gets (the preset's classes count).
  for (const role of ['providers', 'renters'] as const) {
    for (const name of Object.keys(scenario.nodes[role].bandwidth)) {
      network.bandwidthClass(name, `nodes.${role}.bandwidth.${name}`)
    }
  }
  scenario.churn.partitions.forEach((p, i) => {
    for (const region of p.between) network.assertRegion(region, `churn.partitions.${i}.between`)
  })
  return { network, regions: config.regions.map((r) => ({ name: r.name, weight: r.weight ?? 1 })) }
}
