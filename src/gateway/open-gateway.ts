import type { AbortOptions } from '@libp2p/interface'
import { createClient } from '../client/client.js'
import type { ClientInit } from '../client/types.js'
import { createGateway, type Gateway, type GatewayInit } from './gateway.js'
import { KeyStore } from './key-store.js'
import { ModelCatalog } from './model-catalog.js'

export interface OpenGatewayInit extends GatewayInit {
  /** The renter client's settings (data dir, chain, account, bootstrap...). Its `idleMs` defaults to 3 s here. */
  client: ClientInit
  /** Model aliases: alias -> local .onnx path (added to those in `<dataDir>/gateway/models.json`). */
  models?: Record<string, string>
}

/**
 * Everything `parkbench gateway` and `parkbench mcp` run on: the key store, the model catalog, a renter client
 * whose lease events feed the gateway's spend ledger, and the gateway itself (started). `close()` stops it all.
 */
export async function openGateway(
  init: OpenGatewayInit,
  options: AbortOptions = {},
): Promise<{ gateway: Gateway; close(): Promise<void> }> {
  const keys = await KeyStore.open(init.client.dataDir)
  const models = await ModelCatalog.load(init.models ?? {}, init.client.dataDir)
  let gateway: Gateway | undefined
  const userOnEvent = init.client.onEvent
  const client = await createClient(
    {
      // An agent's requests come in bursts: idle seconds are paid by its key, so the lease ends sooner than the SDK's.
      idleMs: 3_000,
      ...init.client,
      onEvent: (event) => {
        gateway?.onClientEvent(event)
        userOnEvent?.(event)
      },
    },
    options,
  )
  gateway = createGateway({ client, keys, models }, init)
  gateway.start()
  const started = gateway
  return {
    gateway: started,
    async close() {
      await client.close()
      await started.stop()
    },
  }
}
