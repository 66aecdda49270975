// libp2p 3 calls Promise.withResolvers (ES2024, Node 22+). We support Node >= 20.19, so load core-js's standard
// polyfill before anything touches libp2p. It only fills the gap: on Node 22+ it is a no-op.
import 'core-js/actual/promise/with-resolvers.js'

// @libp2p/websockets dials with the global WebSocket, which Node has only from 22. On Node 20 the `ws` package (the
// one the transport's own listener uses) fills it; its client speaks the same browser API.
import { WebSocket as NodeWebSocket } from 'ws'

if (globalThis.WebSocket === undefined) {
  ;(globalThis as { WebSocket?: unknown }).WebSocket = NodeWebSocket
}
