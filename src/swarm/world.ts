import type { ParkbenchNode } from '../net/create-node.js'
import type { RunMember } from './run-member.js'

/** The members of a run and the network between them, in this process or spread over processes. */
export interface SwarmWorld {
  mode: 'in-process' | 'multi-process'
  members: Map<string, RunMember>
  /** The bootstrap node, in this process (undefined in a part of a split run whose bootstrap is another's). */
  hub: ParkbenchNode | undefined
  /** What stands in for a real part, for the report. */
  substitutions: string[]
  /** Cut, or restore, the links between two regions, in every process of the run. */
  partition(regionA: string, regionB: string): void
  heal(regionA: string, regionB: string): void
  /**
   * Resident memory of every process of the run, as last known, and the CPU time the members' own processes
   * reported when they finished (0 in-process: the run's process is all of it).
   */
  usage(): { rssBytes: number; memberCpuMicros: number }
  close(): Promise<void>
}

/** What the world of one part of a split run needs (see part.ts), in either mode. */
export interface WorldPart {
  /** The ids of the nodes this part runs. */
  owned: Set<string>
  /** The run's first port: the bootstrap node's; node i of the schedule listens on portBase + 1 + i. Default: a
   * free range on this host (part 1 picks; the others take part 1's). */
  portBase?: number
  /** The address this part's nodes listen on (default 127.0.0.1; this host's address when parts are on others). */
  host?: string
  /** Another part's bootstrap node; undefined: this part holds it. */
  bootstrap?: string[]
}
