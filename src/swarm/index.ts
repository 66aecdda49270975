/**
 * @packageDocumentation
 *
 * Local test swarms for researchers: many parkbench nodes on loopback in one process, and the report of a run
 * (report.json, and report.html: one self-contained page with its plots, opened from disk).
 *
 * ```ts
 * const swarm = await startLocalSwarm({ size: 50 })
 * await swarm.stop()
 *
 * await writeReport('runs/x', report)          // runs/x/report.json and runs/x/report.html
 * const again = await readReport('runs/x')     // ReportNotFoundError, InvalidReportError
 * for (const { label, value } of headlineRows(again)) console.log(label, value)
 * ```
 */
export { InvalidReportError, ReportError, ReportMergeError, ReportNotFoundError } from './errors.js'
export { type LocalSwarm, type LocalSwarmInit, type SwarmMember, startLocalSwarm } from './local-swarm.js'
export {
  type BandwidthClass,
  GOSSIPSUB_INTEROP_8_REGIONS,
  type LinkStats,
  type NetworkConfig,
  NetworkConfigError,
  NetworkModel,
  NetworkPartitionedError,
  validateNetworkConfig,
} from './network.js'
export {
  PART_PLAN_FILE,
  type PartPlan,
  parsePart,
  partOfEvent,
  partOfNode,
  type SwarmPart,
  SwarmPartError,
  splitSchedule,
} from './part.js'
export { createRandom, type Random } from './random.js'
export { REPORT_HTML, REPORT_JSON, readReport, type WriteReportReturnType, writeReport } from './report-files.js'
export { type HeadlineRow, headlineRows } from './report-headline.js'
export { renderReportHtml } from './report-html.js'
export { mergeReports } from './report-merge.js'
export type { ChannelMoneyRow, Distribution, InvariantResult, LatencyPairRow, SwarmReport } from './report-types.js'
export { type RunSwarmOptions, runSwarm, type SwarmProgressEvent } from './run.js'
export type { PartRunOptions } from './run-part.js'
export {
  BUILTIN_MODEL_NAMES,
  NETWORK_PRESETS,
  parseScenario,
  readScenario,
  type Scenario,
  ScenarioError,
  scenarioJson,
} from './scenario.js'
export { buildSchedule, type NodeSpec, type Schedule, type ScheduleEvent, scheduleJson } from './schedule.js'
export { type ShapedTcpComponents, type ShapedTcpInit, shapedTcp } from './shaped-tcp.js'
export { type ShapedTransportComponents, type ShapedTransportInit, shapedTransport } from './shaped-transport.js'
