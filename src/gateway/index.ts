/**
 * @packageDocumentation
 *
 * The renter's gateway for agents: the Open Inference Protocol (KServe V2) REST API and an MCP server, in front of
 * the renter client, with API keys an owner creates, each with a price ceiling and spend caps.
 *
 * ```ts
 * const { gateway, close } = await openGateway({ client: { dataDir, chain, account, bootstrap }, models: { det: 'det.onnx' } })
 * const http = await startGatewayHttp(gateway, { port: 8480 })
 * // POST http://127.0.0.1:8480/v2/models/det/infer with Authorization: Bearer <key from KeyStore.create>
 * await http.stop()
 * await close()
 * ```
 */

import type { Gateway } from './gateway.js'
import { createGatewayHttpServer, type GatewayHttpInit, type GatewayHttpServer } from './http-server.js'

export * from './budget.js'
export * from './errors.js'
export { createGateway, Gateway, type GatewayComponents, type GatewayInferResult, type GatewayInit } from './gateway.js'
export { createGatewayHttpServer, GATEWAY_PORT, type GatewayHttpInit, GatewayHttpServer } from './http-server.js'
export {
  type ApiKeyRecord,
  type ApiKeyStatus,
  GATEWAY_DIR,
  KEY_PREFIX,
  KEYS_FILE,
  KeyStore,
  SPEND_FILE,
} from './key-store.js'
export { type CatalogModel, MODELS_FILE, ModelCatalog } from './model-catalog.js'
export { COST_HEADER, errorAnswer, inferResponse, PROVIDER_HEADER, toGatewayError } from './oip-response.js'
export * from './oip-tensors.js'
export { type OpenGatewayInit, openGateway } from './open-gateway.js'
export { type RequestCharge, SpendLedger } from './spend-ledger.js'

/** Create and start the HTTP server over a gateway. */
export async function startGatewayHttp(gateway: Gateway, init: GatewayHttpInit = {}): Promise<GatewayHttpServer> {
  const server = createGatewayHttpServer(gateway, init)
  await server.start()
  return server
}
export { createMcpServer } from './mcp-server.js'
