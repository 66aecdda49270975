import { protocolId } from '../net/constants.js'

/** One InferRequest, one InferResponse per stream. */
export const INFER_PROTOCOL = protocolId('infer', '1.0.0')

/** Model push (client to provider) and fetch (by hash, from any peer holding it). */
export const MODEL_PROTOCOL = protocolId('model', '1.0.0')

/** Largest infer request or response frame by default: 64 MiB (a 4K RGB float32 image is 100 MB; a 1080p one 25). */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024

/** Bytes of infer requests a provider holds (decoded, waiting or running) by default: eight of the largest. */
export const DEFAULT_MAX_REQUEST_MEMORY_BYTES = 512 * 1024 * 1024

/** Default deadline for one job, queue wait included. */
export const DEFAULT_JOB_DEADLINE_MS = 60_000

/** Default time a peer has to send its whole request frame. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000

/** Model transfer chunk size. */
export const MODEL_CHUNK_BYTES = 256 * 1024

/** Largest model chunk frame accepted (a peer may choose smaller chunks, never larger). */
export const MAX_MODEL_CHUNK_BYTES = 1024 * 1024

/** Largest control frame on the model protocol (ModelRequest, ModelReply). */
export const MAX_MODEL_CONTROL_BYTES = 4096

/** Model transfers served at once by default, all peers (more are BUSY). */
export const DEFAULT_MAX_CONCURRENT_TRANSFERS = 4

/** Model transfers served at once by default to one peer (more are BUSY), so one peer cannot take every slot. */
export const DEFAULT_MAX_TRANSFERS_PER_PEER = 1

/** Longest wait for a ModelRequest frame (a few hundred bytes); it holds no transfer slot meanwhile. */
export const MODEL_REQUEST_TIMEOUT_MS = 10_000

/**
 * After a model exchange is answered and our side closed, how long the peer has to close its side before the
 * stream is reset, so that no peer keeps one of the provider's streams open.
 */
export const MODEL_CLOSE_LINGER_MS = 2_000

/** Default time limit for one model transfer. */
export const DEFAULT_TRANSFER_TIMEOUT_MS = 10 * 60_000

/** Default time a model transfer may go without a chunk. */
export const DEFAULT_TRANSFER_IDLE_MS = 30_000

/** Concurrent inbound compute streams per connection by default. */
export const DEFAULT_MAX_INBOUND_STREAMS = 32

/** Room for the protobuf framing around tensor bytes when sizing read buffers. */
export const FRAME_OVERHEAD_BYTES = 64 * 1024
