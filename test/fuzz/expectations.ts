/**
 * What protocols/README.md documents for each class of input, as data: the fuzz client's only source of truth.
 * `allowed` lists the outcomes (as the case executors name them, see OUTCOMES) that agree with the README; where the
 * README allows more than one (a reset or a status; no order between two rules an input breaks), all are listed.
 * `readme` is the sentence the expectation comes from, verbatim.
 */

export type Protocol = 'offer' | 'kad' | 'lease' | 'infer' | 'model' | 'control'

export interface Expectation {
  protocol: Protocol
  /** The class of input, in words. */
  input: string
  /** What the README says happens, in words. */
  documented: string
  /** Observed outcomes that agree. */
  allowed: readonly string[]
  /** The README sentence(s) it comes from. */
  readme: string
}

/**
 * The outcomes executors report. A stream that ends: `reset` (the provider reset it), `closed` (closed with no
 * answer), `hang` (neither an answer nor an end within the documented deadline plus slack). Answers are named by
 * their status: offer `OK`; kad `reply`; lease `LeaseReply:<status>`, `STARTED:<status>`, `ENDED:<reason>`,
 * `TICK_ACK`, `VOUCHER_ACK`, `RENEWED`, and `reset/recorded:<reason>` (the stream broke; the daemon's lease record
 * says why, read on its control socket); infer `<status>` for a request answered with its id on a stream that then
 * serves the next request, `<status>+stream-ended` when the stream died after it, `id0:<status>+end` for a frame-level
 * answer; model `reply:<status>` (first reply), `stored:<status>` (reply after the chunks); control `http:<code>` or
 * `closed`. A `-bad-...` suffix means the status agreed but the content did not (a quote that does not verify, an
 * output that is not the input).
 */
export const OUTCOMES = 'see the comment above'

const FRAMING =
  "Every stream protocol frames messages as unsigned-varint length-prefixed protobuf ... A frame over the protocol's limit, or one that does not decode, resets the stream."

export const EXPECTATIONS = {
  // ---------------------------------------------------------------- /parkbench/offer/1.0.0
  'offer.valid': {
    protocol: 'offer',
    input: 'an empty OfferRequest, or one with unknown fields (reserved for filters), up to 1 KiB',
    documented: 'OK with a SignedOffer that verifies (peer_id is the serving peer, Ed25519 signature), then close',
    allowed: ['OK'],
    readme:
      'One `OfferRequest` (empty today; reserved for filters), one `OfferResponse`, then both sides close. | `OK` | `offer` holds the current `SignedOffer` |',
  },
  'offer.undecodable': {
    protocol: 'offer',
    input: 'a frame of at most 1 KiB that does not decode (random bytes, a wrong wire type, a bad tag)',
    documented: 'the stream is reset',
    allowed: ['reset'],
    readme: 'A request over 1 KiB, one that does not decode, or one that does not arrive within 5 s resets the stream.',
  },
  'offer.oversized': {
    protocol: 'offer',
    input: 'a frame over 1 KiB (1,025 bytes and up), or a length prefix claiming so',
    documented: 'the stream is reset',
    allowed: ['reset'],
    readme: 'A request over 1 KiB, one that does not decode, or one that does not arrive within 5 s resets the stream.',
  },
  'offer.truncated': {
    protocol: 'offer',
    input: 'a frame cut short (in its prefix or body), or a prefix claiming more than follows, then the client closes',
    documented: 'the stream is reset (the frame does not decode)',
    allowed: ['reset'],
    readme: 'A request over 1 KiB, one that does not decode, or one that does not arrive within 5 s resets the stream.',
  },
  'offer.silent': {
    protocol: 'offer',
    input: 'no request, or part of one, and then silence',
    documented: 'the stream is reset within 5 s',
    allowed: ['reset'],
    readme: 'A request over 1 KiB, one that does not decode, or one that does not arrive within 5 s resets the stream.',
  },
  'offer.streams': {
    protocol: 'offer',
    input: 'a 9th offer stream on a connection that holds 8',
    documented: 'the 9th stream is reset',
    allowed: ['reset'],
    readme: 'At most 8 offer streams per connection; more are reset.',
  },

  // ---------------------------------------------------------------- /parkbench/kad/1.0.0
  'kad.find-node-self': {
    protocol: 'kad',
    input: "FIND_NODE for the provider's own peer id",
    documented: 'a FIND_NODE Message naming the provider with its loopback address',
    allowed: ['self-listed'],
    readme:
      'The DHT keeps all addresses (loopback, LAN and public) so that the same build works on a laptop swarm, a LAN and the internet; nodes answer DHT queries (server mode) unless configured as clients.',
  },
  'kad.get-providers': {
    protocol: 'kad',
    input: "GET_PROVIDERS for the runtime key's CID and for the add model's key",
    documented: 'the provider is listed as a provider of the key',
    allowed: ['provider-listed'],
    readme:
      'A provider advertises one DHT key for its runtime and one per model it holds, with a stock kad-dht `provide` on `/parkbench/kad/1.0.0`. ... Any libp2p node speaking kad on `/parkbench/kad/1.0.0` can `findProviders(cid)`',
  },
  'kad.add-provider': {
    protocol: 'kad',
    input: 'ADD_PROVIDER for a fresh key naming the client itself (with a loopback address), then GET_PROVIDERS',
    documented: 'the provider record is kept and handed out',
    allowed: ['stored'],
    readme: 'Provider records are kept for one hour by the nodes that store them',
  },
  'kad.add-provider-over-cap': {
    protocol: 'kad',
    input: 'ADD_PROVIDER for a fresh key from a peer that already has 512 records stored, then GET_PROVIDERS',
    documented: 'a record past a cap is not stored',
    allowed: ['not-stored'],
    readme: 'A record past a cap is not stored',
  },
  'kad.hostile-fields': {
    protocol: 'kad',
    input:
      'a Message that decodes, of every type (and unknown ones), with hostile field values: empty, random, 64 KiB keys; records that are not records; peer infos with bad ids and addresses; cluster levels at the int32 bounds',
    documented: 'a Message back, no answer, or a reset, within the 10 s per message: never a hang',
    allowed: ['reply', 'closed', 'reset'],
    readme:
      '| `/parkbench/kad/1.0.0` | Kademlia DHT (stock libp2p kad-dht, private protocol id) | kad `Message` -> `Message` | 4 MiB frames (libp2p default) | 10 s per message | 32 in, 64 out |',
  },
  'kad.undecodable': {
    protocol: 'kad',
    input: 'a frame that does not decode as a kad Message',
    documented: 'the stream is reset',
    allowed: ['reset'],
    readme: FRAMING,
  },
  'kad.oversized': {
    protocol: 'kad',
    input: 'a frame over 4 MiB, or a length prefix claiming one',
    documented: 'the stream is reset',
    allowed: ['reset'],
    readme: `| 4 MiB frames (libp2p default) | ... ${FRAMING}`,
  },
  'kad.truncated': {
    protocol: 'kad',
    input: 'a frame cut short, or a prefix claiming more than follows, then the client closes',
    documented: 'the stream is reset (the frame does not decode)',
    allowed: ['reset'],
    readme: FRAMING,
  },
  'kad.silent': {
    protocol: 'kad',
    input: 'no message for longer than 10 s',
    documented: 'the stream is ended within 10 s',
    allowed: ['reset', 'closed'],
    readme: '| 10 s per message |',
  },

  // ---------------------------------------------------------------- /parkbench/lease/1.0.0, request
  'lease.quote': {
    protocol: 'lease',
    input:
      'a well-formed request the provider can serve (prices at and above its own up to 2^64-1, seconds 1 to 2^32-1, models it holds, threads 0 to the free count)',
    documented:
      'OK with a Quote signed over "parkbench/quote/1" || quote, made for this peer and channel, at the provider\'s price, granting at most the seconds asked, expiring within 10 s',
    allowed: ['LeaseReply:OK'],
    readme:
      'provider -> `LeaseReply`: `OK` with a `Quote` signed by the provider\'s peer key over `"parkbench/quote/1" || quote` (lease id, price, tick interval, grace, granted seconds, threads, amount per tick, expiry, voucher cadence)',
  },
  'lease.bad-request': {
    protocol: 'lease',
    input: 'over 16 model hashes, a model hash or channel_id that is not 32 bytes, seconds 0',
    documented: 'BAD_REQUEST',
    allowed: ['LeaseReply:BAD_REQUEST'],
    readme:
      'renter -> `LeaseRequest`: model hashes (at most 16; empty = any model the provider holds) ... | `BAD_REQUEST` | malformed or out-of-range request or message |',
  },
  'lease.price-too-low': {
    protocol: 'lease',
    input: "a ceiling below the provider's price (0 up to price - 1)",
    documented: 'PRICE_TOO_LOW',
    allowed: ['LeaseReply:PRICE_TOO_LOW'],
    readme: "| `PRICE_TOO_LOW` | the renter's ceiling is below the provider's price |",
  },
  'lease.model-not-found': {
    protocol: 'lease',
    input: 'a 32-byte model hash the provider does not hold',
    documented: 'MODEL_NOT_FOUND',
    allowed: ['LeaseReply:MODEL_NOT_FOUND'],
    readme: '| `MODEL_NOT_FOUND` | the provider does not hold a requested model |',
  },
  'lease.channel-invalid': {
    protocol: 'lease',
    input: 'an unknown channel id, a channel that pays another provider, the channel of an active lease',
    documented: 'CHANNEL_INVALID',
    allowed: ['LeaseReply:CHANNEL_INVALID'],
    readme: '| `CHANNEL_INVALID` | unknown channel, another provider, node or token, closing, or already in a lease |',
  },
  'lease.insufficient-funds': {
    protocol: 'lease',
    input: 'a channel holding one tick of deposit, asked for 2 seconds and more',
    documented: 'INSUFFICIENT_FUNDS',
    allowed: ['LeaseReply:INSUFFICIENT_FUNDS'],
    readme: '| `INSUFFICIENT_FUNDS` | the unspent deposit does not cover the granted seconds |',
  },
  'lease.busy-threads': {
    protocol: 'lease',
    input: 'more threads than are free (all the threads sold while one is leased, up to 2^32-1)',
    documented: 'BUSY',
    allowed: ['LeaseReply:BUSY'],
    readme: '| `BUSY` | not enough free threads, or too many negotiations from this peer (2) or in all (32) |',
  },
  'lease.busy-negotiations': {
    protocol: 'lease',
    input: 'a third negotiation from one peer while two wait on their quotes',
    documented: 'BUSY',
    allowed: ['LeaseReply:BUSY'],
    readme:
      'it has room for another negotiation (at most 2 at once per peer and 32 in all, else `BUSY`) | `BUSY` | not enough free threads, or too many negotiations from this peer (2) or in all (32) |',
  },
  'lease.request-undecodable': {
    protocol: 'lease',
    input: 'a first frame that does not decode, or is cut short before the client closes',
    documented: 'the stream is reset, or BAD_REQUEST',
    allowed: ['reset', 'LeaseReply:BAD_REQUEST'],
    readme: `${FRAMING} | \`BAD_REQUEST\` | malformed or out-of-range request or message |`,
  },
  'lease.request-oversized': {
    protocol: 'lease',
    input: 'a first frame over 4 KiB, or a prefix claiming one',
    documented: 'the stream is reset, or BAD_REQUEST',
    allowed: ['reset', 'LeaseReply:BAD_REQUEST'],
    readme: `| 4 KiB per frame | ... ${FRAMING}`,
  },
  'lease.request-silent': {
    protocol: 'lease',
    input: 'no request for longer than 5 s',
    documented: 'the stream is reset within 5 s',
    allowed: ['reset'],
    readme: `| request 5 s; ACCEPT before the quote expires (10 s); ... | ${FRAMING}`,
  },

  // ---------------------------------------------------------------- /parkbench/lease/1.0.0, ACCEPT
  'lease.accept-valid': {
    protocol: 'lease',
    input:
      'ACCEPT with a commitment for the quote: right lease, channel, chain, contract, amount per tick, keccak256, 1 to the granted ticks, base at or above the channel total',
    documented: 'STARTED with OK',
    allowed: ['STARTED:OK'],
    readme:
      "renter -> `RenterMessage{ACCEPT}` with the pay `SignedTickCommitment` for the quote's lease id, amount per tick and at most the granted ticks. ... provider -> `ProviderMessage{STARTED}` with `OK`",
  },
  'lease.accept-bad-commitment': {
    protocol: 'lease',
    input:
      'ACCEPT whose commitment fails a payment check: another chain, contract, channel or lease; a signature by another key, of 64 bytes, high s, v outside {0, 1, 27, 28}; sha256 or an unknown hash function; 0 or over 3,600 ticks; another amount per tick; an amount with a leading zero or over 16 bytes; base below the accepted total; base + a tick over the deposit; bytes that do not decode',
    documented: 'STARTED with PAYMENT_INVALID',
    allowed: ['STARTED:PAYMENT_INVALID'],
    readme:
      "runs every payment check on the commitment (the renter's signature is the proof that it controls the channel). provider -> `ProviderMessage{STARTED}` with `OK`, or with `PAYMENT_INVALID`, ...",
  },
  'lease.accept-over-granted': {
    protocol: 'lease',
    input: 'ACCEPT whose commitment covers more ticks than the quote granted (and at most 3,600)',
    documented: 'STARTED with PAYMENT_INVALID or BAD_REQUEST',
    allowed: ['STARTED:PAYMENT_INVALID', 'STARTED:BAD_REQUEST'],
    readme:
      "`SignedTickCommitment` for the quote's lease id, amount per tick and at most the granted ticks. ... `PAYMENT_INVALID`, `CHANNEL_INVALID`, `BUSY`, `QUOTE_EXPIRED` (ACCEPT came late) or `BAD_REQUEST`",
  },
  'lease.accept-wrong-kind': {
    protocol: 'lease',
    input: 'TICK, VOUCHER, RENEW, KIND_UNSPECIFIED or an unknown kind number where ACCEPT belongs',
    documented: 'STARTED with BAD_REQUEST',
    allowed: ['STARTED:BAD_REQUEST'],
    readme:
      'provider -> `ProviderMessage{STARTED}` with `OK`, or with ... `BAD_REQUEST` | `BAD_REQUEST` | malformed or out-of-range request or message |',
  },
  'lease.accept-end': {
    protocol: 'lease',
    input: 'END where ACCEPT belongs (the renter turns the quote down)',
    documented: 'STARTED with BAD_REQUEST, or the stream closes',
    allowed: ['STARTED:BAD_REQUEST', 'closed'],
    readme:
      'Either side ends the lease: `RenterMessage{END}` ... | `BAD_REQUEST` | malformed or out-of-range request or message |',
  },
  'lease.accept-undecodable': {
    protocol: 'lease',
    input: 'a frame that does not decode, or one over 4 KiB, where ACCEPT belongs',
    documented: 'the stream is reset, or STARTED with BAD_REQUEST',
    allowed: ['reset', 'STARTED:BAD_REQUEST'],
    readme: `${FRAMING} | \`BAD_REQUEST\` | malformed or out-of-range request or message |`,
  },
  'lease.accept-late': {
    protocol: 'lease',
    input: 'a valid ACCEPT sent after the quote expired (10 s)',
    documented: 'STARTED with QUOTE_EXPIRED',
    allowed: ['STARTED:QUOTE_EXPIRED'],
    readme: "| `QUOTE_EXPIRED` | ACCEPT came after the quote's expiry |",
  },

  // ---------------------------------------------------------------- /parkbench/lease/1.0.0, a running lease
  'lease.tick-valid': {
    protocol: 'lease',
    input: 'the next tick (k = 1, 2, ...), revealing h_{n-k}',
    documented: 'TICK_ACK with ticks_paid = k and total = base + k x amount_per_tick',
    allowed: ['TICK_ACK'],
    readme:
      'Tick k reveals `h_{n-k}`; the provider checks `H(revealed) == last accepted` (one hash) and stores it before acknowledging. ... each acknowledged by `TICK_ACK` after it is durably stored.',
  },
  'lease.voucher-valid': {
    protocol: 'lease',
    input: 'a cumulative voucher for what was paid (or one tick less)',
    documented: 'VOUCHER_ACK',
    allowed: ['VOUCHER_ACK'],
    readme:
      'the renter also sends a cumulative `VOUCHER` covering what it has paid (it may trail by the one tick in flight)',
  },
  'lease.renew-valid': {
    protocol: 'lease',
    input: 'RENEW with a new chain, same lease id, base = the channel total so far',
    documented: 'RENEWED',
    allowed: ['RENEWED'],
    readme:
      "`RENEW` carries a new commitment (new hash chain, same lease id, base = the channel's total so far) and the provider answers `RENEWED`",
  },
  'lease.end': {
    protocol: 'lease',
    input: 'END, with or without a final voucher',
    documented: 'ENDED with RENTER_ENDED',
    allowed: ['ENDED:RENTER_ENDED'],
    readme: '| `RENTER_ENDED` | renter | it sent END |',
  },
  'lease.bad-tick': {
    protocol: 'lease',
    input:
      'a tick that fails a check: a wrong preimage, an index skipped, repeated or 0, another lease id, tick bytes that do not decode',
    documented: 'the lease ends PAYMENT_INVALID',
    allowed: ['ENDED:PAYMENT_INVALID'],
    readme: '| `PAYMENT_INVALID` | provider | a tick, voucher or renewal failed a check |',
  },
  'lease.bad-voucher': {
    protocol: 'lease',
    input:
      'a voucher that fails a check: signed by another key, for another channel, chain or contract, a total over the deposit or not above the last, a 64-byte signature, bytes that do not decode',
    documented: 'the lease ends PAYMENT_INVALID',
    allowed: ['ENDED:PAYMENT_INVALID'],
    readme: '| `PAYMENT_INVALID` | provider | a tick, voucher or renewal failed a check |',
  },
  'lease.bad-renew': {
    protocol: 'lease',
    input: 'RENEW whose commitment fails a payment check',
    documented: 'the lease ends PAYMENT_INVALID',
    allowed: ['ENDED:PAYMENT_INVALID'],
    readme: '| `PAYMENT_INVALID` | provider | a tick, voucher or renewal failed a check |',
  },
  'lease.unexpected-frame': {
    protocol: 'lease',
    input: 'ACCEPT again, KIND_UNSPECIFIED or an unknown kind number during a running lease',
    documented: 'the lease ends PROTOCOL_ERROR',
    allowed: ['ENDED:PROTOCOL_ERROR', 'reset/recorded:PROTOCOL_ERROR'],
    readme: '| `PROTOCOL_ERROR` | either | a malformed or unexpected frame |',
  },
  'lease.running-undecodable': {
    protocol: 'lease',
    input: 'a frame that does not decode during a running lease',
    documented: 'the lease ends PROTOCOL_ERROR (the stream may be reset)',
    allowed: ['ENDED:PROTOCOL_ERROR', 'reset/recorded:PROTOCOL_ERROR'],
    readme: `| \`PROTOCOL_ERROR\` | either | a malformed or unexpected frame | ... ${FRAMING}`,
  },
  'lease.running-oversized': {
    protocol: 'lease',
    input: 'a frame over 4 KiB (or a prefix claiming one) during a running lease',
    documented: 'the lease ends PROTOCOL_ERROR (the stream may be reset)',
    allowed: ['ENDED:PROTOCOL_ERROR', 'reset/recorded:PROTOCOL_ERROR'],
    readme: `| 4 KiB per frame | ... | \`PROTOCOL_ERROR\` | either | a malformed or unexpected frame | ... ${FRAMING}`,
  },
  'lease.no-tick': {
    protocol: 'lease',
    input: 'no tick after STARTED',
    documented: 'the lease ends PAYMENT_LATE once the grace (500 ms) has passed',
    allowed: ['ENDED:PAYMENT_LATE'],
    readme:
      '| `PAYMENT_LATE` | provider | no tick by the paid boundary + grace (500 ms), or no voucher for `voucher_every_ticks` + 2 ticks |',
  },
  'lease.renter-gone': {
    protocol: 'lease',
    input: 'the renter resets the stream in the middle of a lease',
    documented: 'the lease is recorded as ended RENTER_GONE',
    allowed: ['recorded:RENTER_GONE'],
    readme: '| `RENTER_GONE` | provider | the stream broke without END |',
  },

  // ---------------------------------------------------------------- /parkbench/infer/1.0.0
  'infer.valid': {
    protocol: 'infer',
    input:
      'a request that meets every rule: the identity model with each of the 13 dtypes (any length, 0 included; strings with NULs and multi-byte UTF-8), the add model; ids 0 to 2^32-1; deadline 0 or ample; output_names empty or a subset; the client may close its side after the request',
    documented: 'OK with the same id; Identity returns its inputs (strings cut at a NUL), Add adds',
    allowed: ['OK'],
    readme:
      'each carries an `id` of its choosing ... and each response echoes it ... A client may also send one request (id 0 is fine) and close its side. ... onnxruntime-node cuts strings at a NUL byte, locally as remotely.',
  },
  'infer.not-authorized': {
    protocol: 'infer',
    input: 'a well-formed request from a peer with no lease',
    documented: 'NOT_AUTHORIZED',
    allowed: ['NOT_AUTHORIZED'],
    readme:
      'The provider admits jobs (`/parkbench/infer/1.0.0`, `/parkbench/model/1.0.0`) only from a peer with an active lease that is paid up',
  },
  'infer.model-not-found': {
    protocol: 'infer',
    input: 'a 32-byte model hash the provider does not hold',
    documented: 'MODEL_NOT_FOUND, and the stream carries on',
    allowed: ['MODEL_NOT_FOUND'],
    readme: '| MODEL_NOT_FOUND | no model with this sha256 |',
  },
  'infer.bad-hash': {
    protocol: 'infer',
    input: 'model_sha256 of 0 to 64 bytes, not 32',
    documented: 'MALFORMED_REQUEST, and the stream carries on',
    allowed: ['MALFORMED_REQUEST'],
    readme:
      'Request: `model_sha256` (32 bytes) ... | MALFORMED_REQUEST | a frame that does not decode, a bad field (hash length, duplicate id) |',
  },
  'infer.invalid-input': {
    protocol: 'infer',
    input:
      'a wrong dtype, a wrong rank or fixed dim, a missing, repeated or unknown input, an unknown output name, raw_data that is not product(dims) x element size (dims up to 2^64-1), a string tensor with raw_data or the wrong count, more than 32 dims',
    documented: 'INVALID_INPUT, and the stream carries on',
    allowed: ['INVALID_INPUT'],
    readme:
      "`raw_data` must be exactly `product(dims) x element size` bytes. ... At most 32 dims. ... Every input the model declares must be present once, with the model's dtype and a shape that matches its fixed dims | INVALID_INPUT | wrong dtype or shape, missing/unknown input, unknown output, bytes that do not match dims |",
  },
  'infer.dtype-unsupported': {
    protocol: 'infer',
    input: 'a tensor of data_type 14-23 (complex, bfloat16, float8, uint4/int4, float4) or a number ONNX does not have',
    documented: 'INVALID_INPUT, and the stream carries on',
    allowed: ['INVALID_INPUT'],
    readme:
      'It cannot feed BFLOAT16, FLOAT8, INT4/UINT4 or complex types (its binding refuses them), so a tensor of those is INVALID_INPUT.',
  },
  'infer.huge-dims': {
    protocol: 'infer',
    input: 'a dims value of 2^53 or more (dims are uint64 on the wire), with any raw_data',
    documented: 'INVALID_INPUT (the bytes cannot match the dims), and the stream carries on',
    allowed: ['INVALID_INPUT'],
    readme:
      '`raw_data` must be exactly `product(dims) x element size` bytes. | INVALID_INPUT | wrong dtype or shape, missing/unknown input, unknown output, bytes that do not match dims |',
  },
  'infer.pipelined': {
    protocol: 'infer',
    input: '2 to 40 requests with distinct ids sent at once on one stream, valid and invalid mixed',
    documented: 'one response per request, each echoing its id (in any order)',
    allowed: ['all-answered'],
    readme:
      'Requests pipeline: a client sends the next request without waiting, each carries an `id` of its choosing (unique among its requests in flight on the stream) and each response echoes it; responses come back as jobs finish, not necessarily in order.',
  },
  'infer.duplicate-id': {
    protocol: 'infer',
    input: 'a request reusing the id of a job still running',
    documented: 'MALFORMED_REQUEST for it; the first job is answered',
    allowed: ['MALFORMED_REQUEST'],
    readme: '| MALFORMED_REQUEST | a frame that does not decode, a bad field (hash length, duplicate id) |',
  },
  'infer.cancel': {
    protocol: 'infer',
    input: 'cancel: true with the id of a running job',
    documented: 'the job is aborted (DEADLINE_EXCEEDED or no response); the stream carries on',
    allowed: ['cancelled'],
    readme:
      '`cancel: true` with an id aborts that job on the provider | DEADLINE_EXCEEDED | past the job deadline (queue wait included), or cancelled |',
  },
  'infer.cancel-unknown': {
    protocol: 'infer',
    input: 'cancel: true with an id that is not in flight',
    documented: 'nothing to abort; the stream carries on',
    allowed: ['ignored'],
    readme: '`cancel: true` with an id aborts that job on the provider',
  },
  'infer.deadline': {
    protocol: 'infer',
    input: 'deadline_ms of 1 to 3 on a job that takes longer',
    documented: 'DEADLINE_EXCEEDED',
    allowed: ['DEADLINE_EXCEEDED'],
    readme:
      "optional `deadline_ms` (shorter than the provider's) | DEADLINE_EXCEEDED | past the job deadline (queue wait included), or cancelled |",
  },
  'infer.undecodable': {
    protocol: 'infer',
    input:
      'a frame that does not decode (random bytes, wrong wire types, bad nested tensors), or one cut short before the client closes',
    documented:
      'one that still names its id is answered under that id and the stream goes on; one that names no id is answered with id 0 and MALFORMED_REQUEST, then the stream ends',
    allowed: ['id0:MALFORMED_REQUEST+end', 'read-as-a-request'],
    readme:
      'a frame that does not decode but still names its id (its top-level fields are read for it ...). Only two things end the stream, after an answer with `id` 0: ... a frame that does not decode and names no id (MALFORMED_REQUEST)',
  },
  'infer.oversized': {
    protocol: 'infer',
    input: 'a first frame whose length prefix is over 64 MiB (64 MiB + 1 up to 2^64 - 1)',
    documented: 'answered with id 0 and TOO_LARGE, then the stream ends',
    allowed: ['id0:TOO_LARGE+end'],
    readme:
      'A frame over the size limit or one that does not decode is answered with `id` 0 and TOO_LARGE / MALFORMED_REQUEST, then the stream ends',
  },
  'infer.silent': {
    protocol: 'infer',
    input: 'a stream with no request for longer than 30 s',
    documented: 'the stream is ended within 30 s',
    allowed: ['closed', 'reset'],
    readme: '| job 60 s incl. queue; first frame 30 s; idle stream 60 s |',
  },
  'infer.streams': {
    protocol: 'infer',
    input: 'a 33rd infer stream on a connection that holds 32',
    documented: 'the 33rd stream is refused (reset)',
    allowed: ['reset'],
    readme:
      '| 32, 16 requests in flight each | ... | inbound streams per connection, each protocol | 32 (`maxInboundStreams`) |',
  },

  // ---------------------------------------------------------------- /parkbench/model/1.0.0
  'model.push-valid': {
    protocol: 'model',
    input: 'PUSH of a new model onnxruntime loads, with its size and sha256, in chunks of 1 B to 1 MiB',
    documented: 'OK, then after the chunks OK (stored)',
    allowed: ['stored:OK'],
    readme:
      'Push (client to provider): `ModelRequest{PUSH, sha256, size_bytes, name}` -> `ModelReply` (OK: send ...) -> `ModelChunk` frames of at most 1 MiB ... until `size_bytes` -> `ModelReply` (OK, ...',
  },
  'model.push-already': {
    protocol: 'model',
    input: 'PUSH of a model the provider holds',
    documented: 'OK with already_stored: nothing to send',
    allowed: ['reply:OK-already-stored'],
    readme: '`ModelReply` (OK: send; OK with `already_stored`: nothing to send; ...',
  },
  'model.push-too-large': {
    protocol: 'model',
    input: 'PUSH announcing size_bytes over 256 MiB (256 MiB + 1 up to 2^53)',
    documented: 'TOO_LARGE before any byte is sent',
    allowed: ['reply:TOO_LARGE'],
    readme:
      'The size limit is checked on the announced size before any byte is accepted | model 256 MiB (configurable) |',
  },
  'model.push-at-limit': {
    protocol: 'model',
    input: 'PUSH announcing exactly 256 MiB (then the client leaves)',
    documented: 'OK: send',
    allowed: ['reply:OK'],
    readme:
      'The size limit is checked on the announced size before any byte is accepted | model 256 MiB (configurable) |',
  },
  'model.hash-mismatch': {
    protocol: 'model',
    input: 'bytes that do not hash to the announced sha256 (1 B and up, under a lying hash)',
    documented: 'HASH_MISMATCH',
    allowed: ['stored:HASH_MISMATCH'],
    readme: '| HASH_MISMATCH | pushed bytes do not hash to the announced sha256 |',
  },
  'model.push-empty': {
    protocol: 'model',
    input: 'PUSH announcing 0 bytes (under any sha256, that of no bytes included)',
    documented: 'a push of 0 bytes is a bad field: MALFORMED_REQUEST',
    allowed: ['reply:MALFORMED_REQUEST'],
    readme:
      '| `sha256` not 32 bytes (push or fetch), an unknown kind, a push of 0 bytes, an empty chunk | MALFORMED_REQUEST |',
  },
  'model.invalid-model': {
    protocol: 'model',
    input: 'bytes that hash to the announced sha256 but are not a model onnxruntime loads',
    documented: 'INVALID_MODEL',
    allowed: ['stored:INVALID_MODEL'],
    readme: '| INVALID_MODEL | onnxruntime cannot load the model |',
  },
  'model.bytes-past-size': {
    protocol: 'model',
    input: 'a last chunk that runs past the announced size',
    documented: 'TOO_LARGE',
    allowed: ['stored:TOO_LARGE'],
    readme: '-> `ModelReply` (OK, HASH_MISMATCH, INVALID_MODEL, TOO_LARGE for bytes past the announced size)',
  },
  'model.chunk-too-large': {
    protocol: 'model',
    input: 'a ModelChunk frame over 1 MiB (1 MiB + 65 bytes up to 2 MiB)',
    documented: 'TOO_LARGE (or the stream reset)',
    allowed: ['stored:TOO_LARGE', 'reset'],
    readme:
      '`ModelChunk` frames of at most 1 MiB ... | TOO_LARGE | a frame, the outputs or a model over the limits | ' +
      FRAMING,
  },
  'model.push-short': {
    protocol: 'model',
    input: 'fewer bytes than announced, then the client closes its side',
    documented: 'nothing is stored (a fetch says MODEL_NOT_FOUND), and the stream ends',
    allowed: ['not-stored'],
    readme:
      'the bytes are hashed as they arrive and onnxruntime must load the model before it is stored. ... the record is written last, so a listed model is complete.',
  },
  'model.stalled': {
    protocol: 'model',
    input: 'a push that stops sending chunks',
    documented: 'the provider gives up on it within 30 s (any end: a reply or the stream ended)',
    allowed: ['ended'],
    readme:
      'Both directions are admitted by the admission hook (`model-push`, `model-fetch`); 4 transfers at once per provider (more are BUSY), 30 s at most between chunks, 10 minutes per transfer.',
  },
  'model.fetch-valid': {
    protocol: 'model',
    input: 'FETCH of a model the provider holds',
    documented: 'OK with size_bytes, then chunks of at most 1 MiB whose bytes hash to the sha256',
    allowed: ['fetched'],
    readme:
      'Fetch ...: `ModelRequest{FETCH, sha256}` -> `ModelReply` (OK with `size_bytes`, or MODEL_NOT_FOUND / NOT_AUTHORIZED) -> `ModelChunk` frames',
  },
  'model.fetch-unknown': {
    protocol: 'model',
    input: 'FETCH of a 32-byte hash the provider does not hold',
    documented: 'MODEL_NOT_FOUND',
    allowed: ['reply:MODEL_NOT_FOUND'],
    readme: '`ModelReply` (OK with `size_bytes`, or MODEL_NOT_FOUND / NOT_AUTHORIZED)',
  },
  'model.not-authorized': {
    protocol: 'model',
    input: 'PUSH or FETCH from a peer with no lease',
    documented: 'NOT_AUTHORIZED',
    allowed: ['reply:NOT_AUTHORIZED'],
    readme: 'Both directions are admitted by the admission hook (`model-push`, `model-fetch`)',
  },
  'model.bad-request': {
    protocol: 'model',
    input: 'sha256 not 32 bytes; kind KIND_UNSPECIFIED or an unknown number',
    documented: 'MALFORMED_REQUEST',
    allowed: ['reply:MALFORMED_REQUEST'],
    readme: '| MALFORMED_REQUEST | a frame that does not decode, a bad field (hash length, duplicate id) |',
  },
  'model.undecodable': {
    protocol: 'model',
    input: 'a request frame that does not decode, or one cut short before the client closes',
    documented: 'MALFORMED_REQUEST, or the stream reset',
    allowed: ['reply:MALFORMED_REQUEST', 'reset'],
    readme: `| MALFORMED_REQUEST | a frame that does not decode, ... | ${FRAMING}`,
  },
  'model.oversized-request': {
    protocol: 'model',
    input: 'a request frame over 1 MiB, or a prefix claiming one',
    documented: 'TOO_LARGE, or the stream reset',
    allowed: ['reply:TOO_LARGE', 'reset'],
    readme: `| chunk 1 MiB; ... | TOO_LARGE | a frame, the outputs or a model over the limits | ${FRAMING}`,
  },
  'model.busy': {
    protocol: 'model',
    input: 'a second transfer from a peer whose push is in progress',
    documented: 'BUSY',
    allowed: ['reply:BUSY'],
    readme:
      'takes a transfer slot: 1 per peer (`maxTransfersPerPeer`) out of 4 in all (`maxConcurrentTransfers`); none free ... BUSY',
  },

  // ---------------------------------------------------------------- control socket
  'control.routes': {
    protocol: 'control',
    input: 'GET /v1/status (with and without reset=1, with unknown parameters), /v1/leases, /v1/channels',
    documented: '200 with the documented JSON (peerId and load; leases; channels and pending)',
    allowed: ['http:200'],
    readme:
      '| `GET /v1/status[?reset=1]` | peer id, addresses, offer, payout address, and `load` ... | `GET /v1/leases` | `{ leases }` ... | `GET /v1/channels` | `{ channels: [{ channelId, acceptedOffChain }], pending }` |',
  },
  'control.settle': {
    protocol: 'control',
    input: 'POST /v1/settle with no body, {}, or { channelId } of a 32-byte hex id',
    documented: '200 with { settled }',
    allowed: ['http:200'],
    readme:
      "| `POST /v1/settle` `{ channelId? }` | `{ settled }`: settles one channel's best proof, or every channel's |",
  },
  'control.unknown-route': {
    protocol: 'control',
    input: 'any other method or path',
    documented: '404 with { error: { code, message } }; 400 for a request target that is no URL path',
    allowed: ['http:404', 'http:400'],
    readme:
      'Errors are `{ error: { code, message } }` with HTTP 400 (bad input, or a request target that is no URL path), 404 (no such route)',
  },
  'control.bad-input': {
    protocol: 'control',
    input: 'POST /v1/settle with a body that is not JSON, or a channelId that is not a 32-byte hex id',
    documented: '400 with { error: { code, message } }',
    allowed: ['http:400'],
    readme: 'Errors are `{ error: { code, message } }` with HTTP 400 (bad input), 404 (no such route) or 500.',
  },
  'control.body-too-large': {
    protocol: 'control',
    input: 'a body over 4 KiB (4,097 bytes up to 1 MiB), by content-length or chunked',
    documented: '413, or the connection closed',
    allowed: ['http:413', 'closed'],
    readme: '| request body | 4 KiB | a `Content-Length` over it is answered 413 `BODY_TOO_LARGE` at once',
  },
  'control.malformed-http': {
    protocol: 'control',
    input:
      'bytes that are not HTTP/1.1: random bytes, a bad request line or version, bad header lines, headers over 16 KiB, a bad chunked encoding, conflicting lengths',
    documented: "the HTTP parser's own refusal (400, or 431 for headers over 16 KiB), or the connection closed",
    allowed: ['http:400', 'http:431', 'closed'],
    readme:
      "the HTTP parser's own refusals (400 for a request that does not parse, 431 for headers over 16 KiB) have no body",
  },
  'control.slow': {
    protocol: 'control',
    input: 'a request that does not arrive whole: headers or body dribbled byte by byte, or stalled',
    documented: 'the connection is answered (408) or closed within 10 s',
    allowed: ['closed', 'http:408'],
    readme: 'Bodies are at most 4 KiB; a request must arrive within 10 s; 32 connections at most.',
  },
  'control.connections': {
    protocol: 'control',
    input: 'a 33rd connection while 32 are open, none of them being answered',
    documented: 'it is answered: the oldest connection not being answered makes room',
    allowed: ['http:200'],
    readme: '| connections at once | 32 | a newcomer evicts (closes) the oldest connection that is not being answered',
  },
} as const satisfies Record<string, Expectation>

export type ExpectationId = keyof typeof EXPECTATIONS

export function expectation(id: ExpectationId): Expectation {
  return EXPECTATIONS[id]
}

/** Does `outcome` agree with any of `ids`? */
export function agrees(ids: readonly ExpectationId[], outcome: string): boolean {
  return ids.some((id) => (EXPECTATIONS[id].allowed as readonly string[]).includes(outcome))
}
