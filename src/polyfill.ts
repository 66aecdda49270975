// libp2p 3 calls Promise.withResolvers (ES2024, Node 22+). We support Node >= 20.19, so load core-js's standard
// polyfill before anything touches libp2p. It only fills the gap: on Node 22+ it is a no-op.
import 'core-js/actual/promise/with-resolvers.js'
