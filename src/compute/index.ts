/**
 * @packageDocumentation
 *
 * ONNX inference for peers. Models are addressed by the sha256 of their bytes and kept in the data dir; a provider
 * serves `/parkbench/infer/1.0.0` (named tensors in, named tensors out) and `/parkbench/model/1.0.0` (model push
 * and fetch), running onnxruntime in worker processes so its event loop stays free and a job's memory is capped
 * (see `MemoryBudget`).
 *
 * Provider:
 * ```ts
 * import { createCompute } from './compute/index.js'
 * const compute = createCompute(node, { dataDir, freeMode: true }) // or admit: leasePolicy
 * await compute.start()
 * const record = await compute.store.add('squeezenet.onnx')
 * // ... later
 * await compute.stop()
 * ```
 *
 * Client (`infer` shares one pipelined stream per provider and node; `createInferClients` is such a pool owned by
 * its caller, `createInferClient` one such stream as an object):
 * ```ts
 * import { infer, pushModel } from './compute/index.js'
 * import { Tensor } from 'onnxruntime-node'
 * const { sha256 } = await pushModel(node, providerAddr, 'squeezenet.onnx', { onProgress: console.log })
 * const { outputs, timing } = await infer(node, providerAddr, {
 *   model: sha256,
 *   inputs: { data_0: new Tensor('float32', pixels, [1, 3, 224, 224]) },
 * })
 * ```
 */
export {
  type AdmissionKind,
  type AdmissionPolicy,
  type AdmissionRequest,
  type Admitted,
  freeModePolicy,
  type JobOutcome,
  type Refused,
  refuseAllPolicy,
  runAdmitted,
} from './admission.js'
export type { ComputeContext } from './compute-context.js'
export {
  type ComputeComponents,
  type ComputeInit,
  ComputeService,
  type ComputeStorage,
  compute,
  createCompute,
  createComputeStorage,
} from './compute-service.js'
export * from './constants.js'
export * from './errors.js'
export { COMPUTE_FRAME_ERRORS, createComputeStream } from './frames.js'
export {
  createInferClients,
  exchange,
  INFER_CLIENT_IDLE_MS,
  InferClients,
  type InferClientsInit,
  infer,
} from './infer.js'
export {
  createInferClient,
  encodeInferRequest,
  InferClient,
  type InferClientInit,
  type InferOptions,
  type InferParameters,
  type InferPeer,
  type InferRequestBody,
  type InferResult,
  type InferTiming,
} from './infer-client.js'
export { InferHandler, type InferLimits } from './infer-handler.js'
export { encodeInferRequestList } from './infer-request-encoder.js'
export type { InferTrace } from './infer-trace.js'
export { inspectModel, type ModelSignature } from './inspect-model.js'
export {
  checkJobFits,
  DEFAULT_JOB_MEMORY_BYTES,
  estimateJob,
  type JobEstimate,
  type MemoryBudget,
  memoryBudget,
  WORKER_BASE_BYTES,
} from './job-memory.js'
export { ModelTransferHandler, type ModelTransferLimits } from './model-handler.js'
export type { ModelRecord, TensorSpec } from './model-record.js'
export {
  DEFAULT_MAX_MODEL_BYTES,
  isSha256Hex,
  type ModelCatalogPolicy,
  type ModelInspector,
  ModelStore,
  type ModelStoreInit,
  ModelWriter,
} from './model-store.js'
export {
  fetchModelInto,
  type PushResult,
  pushModel,
  type TransferOptions,
  type TransferProgress,
} from './model-transfer.js'
export {
  decodeOnnxTensorProto,
  type OnnxTensorProto,
  onnxTensorToData,
  readOnnxTensorFile,
} from './onnx-tensor-file.js'
export { Status as ComputeStatus } from './pb/compute.js'
export {
  byteLengthOf,
  DTYPES,
  decodeTensor,
  elementCount,
  encodeTensor,
  isTensorDtype,
  type TensorData,
  type TensorDtype,
  type TensorLike,
  toOrtTensor,
  toTensorData,
} from './tensor.js'
export { WorkerPool } from './worker-pool.js'
export type { PoolJob, PoolResult, PoolStats, WorkerPoolInit } from './worker-pool-types.js'
