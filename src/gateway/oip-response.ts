import { InsufficientBalanceError, NoProviderError } from '../client/errors.js'
import { InvalidInferenceInputError } from '../compute/errors.js'
import { AbortedError, InvalidInputError, ParkbenchError } from '../errors.js'
import { BudgetExceededError, GatewayError, InvalidTensorError } from './errors.js'
import type { GatewayInferResult } from './gateway.js'
import { binaryOfTensor, jsonDataOfTensor, oipDatatype, type ParsedInferRequest } from './oip-tensors.js'

/** A response ready to write: status, headers, body. */
export interface HttpAnswer {
  status: number
  headers: Record<string, string>
  body: Uint8Array | string
}

/** The response headers that say what a request cost and who served it. */
export const COST_HEADER = 'parkbench-cost-wei'
export const PROVIDER_HEADER = 'parkbench-provider'

/**
 * An OIP inference response: the JSON object (outputs in the model's order, `parameters` with the cost in wei as a
 * decimal string and the provider's peer id), then, if any output goes back as binary, their bytes in the same order
 * (application/octet-stream with Inference-Header-Content-Length).
 */
export function inferResponse(result: GatewayInferResult, request: ParsedInferRequest): HttpAnswer {
  const wanted = new Map(request.outputs.map((o) => [o.name, o.binary]))
  const parts: string[] = []
  const binaries: Uint8Array[] = []
  for (const [name, tensor] of Object.entries(result.outputs)) {
    if (wanted.size > 0 && !wanted.has(name)) continue
    const binary = wanted.get(name) ?? request.binaryOutput
    const head = `{"name":${JSON.stringify(name)},"datatype":"${oipDatatype(tensor.type)}","shape":${JSON.stringify(tensor.dims)}`
    if (binary) {
      const bytes = binaryOfTensor(tensor)
      binaries.push(bytes)
      parts.push(`${head},"parameters":{"binary_data_size":${bytes.byteLength}}}`)
    } else {
      parts.push(`${head},"data":${jsonDataOfTensor(tensor)}}`)
    }
  }
  const parameters = {
    parkbench_cost_wei: result.costWei.toString(),
    parkbench_provider: result.providerPeer,
    parkbench_lease: result.leaseId,
    parkbench_key: result.key.name,
  }
  const json =
    `{"model_name":${JSON.stringify(result.model.name)},"model_version":"${result.model.sha256}",` +
    `${request.id != null ? `"id":${JSON.stringify(request.id)},` : ''}"parameters":${JSON.stringify(parameters)},` +
    `"outputs":[${parts.join(',')}]}`
  const headers: Record<string, string> = {
    [COST_HEADER]: result.costWei.toString(),
    [PROVIDER_HEADER]: result.providerPeer,
  }
  if (binaries.length === 0)
    return { status: 200, headers: { ...headers, 'content-type': 'application/json' }, body: json }
  const header = Buffer.from(json, 'utf8')
  return {
    status: 200,
    headers: {
      ...headers,
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(header.byteLength),
    },
    body: Buffer.concat([header, ...binaries]),
  }
}

function stoppedBySignal(err: unknown): boolean {
  const name = (err as Error | undefined)?.name
  return name === 'TimeoutError' || name === 'AbortError'
}

/** Any error as the gateway's typed error: the renter client's own errors get their status and code here. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err
  if (err instanceof InvalidInferenceInputError) return new InvalidTensorError(err.message, undefined, { cause: err })
  if (err instanceof NoProviderError) {
    if (err.cheapestPricePerSecond != null) {
      return new GatewayError(
        `${err.message} (the cheapest provider asks ${err.cheapestPricePerSecond} wei/s, over this key's price ceiling)`,
        'PRICE_CEILING',
        503,
        { cause: err },
      )
    }
    return new GatewayError(err.message, 'NO_PROVIDER', 503, { cause: err })
  }
  if (err instanceof InsufficientBalanceError) return new GatewayError(err.message, err.code, 503, { cause: err })
  if (err instanceof InvalidInputError) return new GatewayError(err.message, 'INVALID_REQUEST', 400, { cause: err })
  // A deadline or abort: as the signal threw it, or as the renter client types it (an AbortedError caused by it).
  if (stoppedBySignal(err) || (err instanceof AbortedError && stoppedBySignal(err.cause))) {
    return new GatewayError('The request took too long', 'TIMEOUT', 504, { cause: err })
  }
  if (err instanceof ParkbenchError) return new GatewayError(err.message, err.code, 502, { cause: err })
  return new GatewayError(`Internal error: ${(err as Error)?.message ?? String(err)}`, 'INTERNAL', 500, { cause: err })
}

/** The OIP error body, `{"error": "..."}`, plus our stable `code` and the details a caller can act on. */
export function errorAnswer(err: unknown): HttpAnswer {
  const e = toGatewayError(err)
  const body: Record<string, unknown> = { error: e.message, code: e.code }
  if (e instanceof InvalidTensorError && e.tensor != null) body.tensor = e.tensor
  if (e instanceof BudgetExceededError) {
    body.cap = e.cap
    body.limit_wei = e.limit.toString()
    body.spent_wei = e.spent.toString()
    body.reserved_wei = e.reserved.toString()
    body.resets_at = e.resetsAt != null ? new Date(e.resetsAt).toISOString() : null
  }
  const cause = e.cause
  if (cause instanceof NoProviderError) {
    body.attempts = cause.attempts
    if (cause.cheapestPricePerSecond != null) body.cheapest_price_per_second = cause.cheapestPricePerSecond.toString()
  }
  return { status: e.status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
}
