import type { ExpectationId } from './expectations.js'

/**
 * Where the daemon disagrees with protocols/README.md today, as the short fuzz run (test/fuzz/fuzz.test.ts) sees it.
 * The run tolerates exactly these: it fails on any other disagreement, and on any entry here that no longer occurs,
 * so whoever fixes one deletes its entry in the same commit. `outcome` is what the daemon does instead (see OUTCOMES
 * in expectations.ts). An entry with `crash` is matched against the dying daemon's stderr instead of an outcome.
 */
export interface KnownDisagreement {
  expectation: ExpectationId
  outcome: string
  /** The finding it belongs to: from issue "every protocol holds against hostile peers", or found by this harness. */
  finding: string
  /** What the fix needs, in a line or two. */
  needs: string
  /** A crash: a line of the dying daemon's stderr. */
  crash?: string
}

const ISSUE = 'issue "every protocol holds against hostile peers"'
const CLOSED_ENUMS =
  'found by the fuzz run: protons decodes enums as closed (an unknown number does not decode), where proto3 enums are open'

export const KNOWN_DISAGREEMENTS: readonly KnownDisagreement[] = [
  // ------------------------------------------------------------------ lease
  {
    expectation: 'lease.running-oversized',
    outcome: 'ENDED:RENTER_GONE',
    finding: `${ISSUE}: an oversized lease frame ends the lease RENTER_GONE instead of PROTOCOL_ERROR`,
    needs:
      'MeteredLease.serve: a read that fails on the frame (over 4 KiB, or does not decode) ends the lease PROTOCOL_ERROR; only a broken stream is RENTER_GONE.',
  },
  {
    expectation: 'lease.running-undecodable',
    outcome: 'ENDED:RENTER_GONE',
    finding: `${ISSUE} (same cause as the oversized frame): an undecodable frame in a running lease ends it RENTER_GONE`,
    needs: 'The same fix as lease.running-oversized.',
  },
  {
    expectation: 'lease.unexpected-frame',
    outcome: 'ENDED:RENTER_GONE',
    finding: `${CLOSED_ENUMS}: a RenterMessage of kind 7 or 99 does not decode, so the lease ends RENTER_GONE`,
    needs:
      'The lease.running-oversized fix (a frame error is PROTOCOL_ERROR); better, decode unknown kinds and end PROTOCOL_ERROR as the default branch does.',
  },
  {
    expectation: 'lease.accept-wrong-kind',
    outcome: 'reset',
    finding: `${CLOSED_ENUMS}: an unknown kind where ACCEPT belongs resets the stream instead of STARTED BAD_REQUEST`,
    needs: 'readAccept/checkAccept: answer a frame that fails to read (or an unknown kind) with STARTED BAD_REQUEST.',
  },

  // ------------------------------------------------------------------ infer
  {
    expectation: 'infer.dtype-unsupported',
    outcome: 'id0:MALFORMED_REQUEST+stream-ended',
    finding: `${ISSUE}: data types 14-23 drop the pipeline (the frame does not decode: MALFORMED_REQUEST with id 0, stream ended)`,
    needs:
      'Decode Tensor.data_type as an open enum; an unknown or unfeedable type is INVALID_INPUT for that id, and the stream goes on.',
  },
  {
    expectation: 'infer.huge-dims',
    outcome: 'id0:MALFORMED_REQUEST+stream-ended',
    finding:
      'found by the fuzz run: a dims value of 2^53 or more does not decode ("Could not decode varint", dims are jstype JS_NUMBER), so it drops the pipeline like data types 14-23',
    needs: 'Decode dims without losing them (bigint, or a precision check in the validator) and answer INVALID_INPUT.',
  },
  {
    expectation: 'infer.pipelined',
    outcome: 'some-unanswered',
    finding:
      'found by the fuzz run: the consequence of infer.dtype-unsupported / infer.huge-dims in a pipeline: requests after one are never answered',
    needs: 'Goes with the two fixes above.',
  },
  {
    expectation: 'infer.undecodable',
    outcome: 'closed',
    finding:
      'found by the fuzz run: a request frame cut short by the client closing its side is not answered; the stream just closes',
    needs:
      'Tell EOF inside a frame (answer id 0 MALFORMED_REQUEST) from EOF between frames (the normal end), or say in the README that a cut frame is dropped.',
  },
  {
    expectation: 'infer.undecodable',
    outcome: 'read-as-a-request',
    finding:
      'found by the fuzz run: protons reads a known field whatever its wire type (6 and 7 are no wire type at all; a fixed64 where a varint belongs), so a frame that does not decode is read as some request (answered with its id, or taken as a cancel) and the stream goes on',
    needs:
      'Refuse wire types that do not match the field (protons-runtime), so the frame-level rule applies; or document the leniency.',
  },
  {
    expectation: 'infer.oversized',
    outcome: 'id0:MALFORMED_REQUEST+end',
    finding:
      'found by the fuzz run: a length prefix of 2^32 up to 2^56 ("Message length length too long") is answered MALFORMED_REQUEST, not TOO_LARGE',
    needs:
      'Same cause as model.chunk-too-large: a prefix longer than a length within the limit can be fails as "Message length length too long", which src/net/message-stream.ts files as malformed; file it as too large.',
  },

  {
    expectation: 'infer.oversized',
    outcome: 'no-answer-in-time',
    finding:
      'found by the fuzz run: a 9- or 10-byte length prefix (2^56 and up) is not answered at all; the stream waits for bytes that never come (the first-frame deadline, 30 s, ends it)',
    needs: 'The same fix as the MALFORMED_REQUEST prefix: read the prefix, see it is over the limit, answer TOO_LARGE.',
  },
  {
    expectation: 'infer.invalid-input',
    outcome: 'TOO_LARGE',
    finding:
      'found by the fuzz run: dims whose product passes 2^53 (e.g. [2^30, 2^30]) are TOO_LARGE ("too many elements"); the README makes bytes that do not match dims INVALID_INPUT, and TOO_LARGE is for frames, outputs and models over the limits',
    needs:
      'elementCount (src/compute/tensor.ts): INVALID_INPUT for a shape no tensor of these bytes can have, or add this case to the README.',
  },

  // ------------------------------------------------------------------ model
  {
    expectation: 'model.undecodable',
    outcome: 'reply:INTERNAL_ERROR',
    finding: `${ISSUE}: a truncated model request gets INTERNAL_ERROR`,
    needs: 'ModelTransferHandler: a request that ends mid-frame is MALFORMED_REQUEST (or a reset), not INTERNAL_ERROR.',
  },
  {
    expectation: 'model.chunk-too-large',
    outcome: 'stored:MALFORMED_REQUEST',
    finding: `${ISSUE}: a 2 MiB model chunk is MALFORMED_REQUEST instead of TOO_LARGE`,
    needs:
      'The 4-byte length prefix of a 2 MiB frame fails pbStream\'s "Message length length too long - 4 > 3" check, which readMessage (src/net/message-stream.ts) files as malformed: file that error as too large.',
  },
  {
    expectation: 'model.oversized-request',
    outcome: 'reply:MALFORMED_REQUEST',
    finding:
      'found by the fuzz run (same cause as the 2 MiB chunk): a 2 MiB ModelRequest frame is MALFORMED_REQUEST, not TOO_LARGE',
    needs: 'The same fix as model.chunk-too-large.',
  },
  {
    expectation: 'model.push-too-large',
    outcome: 'reply:MALFORMED_REQUEST',
    finding:
      'found by the fuzz run: a PUSH announcing 2^53 bytes or more does not decode (size_bytes is uint64 with jstype JS_NUMBER: "Could not decode varint"), so it is MALFORMED_REQUEST, not TOO_LARGE',
    needs: 'Decode size_bytes as a bigint (or clamp) and check it against the limit: TOO_LARGE.',
  },
  {
    expectation: 'model.oversized-request',
    outcome: 'reply:INTERNAL_ERROR',
    finding:
      'found by the fuzz run: a request whose 10-byte length prefix claims 2^64 - 1 bytes is answered INTERNAL_ERROR, like a truncated request',
    needs:
      'Map a length prefix that does not decode (or is over the limit) to MALFORMED_REQUEST / TOO_LARGE, with the truncated-request fix.',
  },
  {
    expectation: 'model.bad-request',
    outcome: 'reset',
    finding:
      'found by the fuzz run: a FETCH whose sha256 is not 32 bytes resets the stream instead of MALFORMED_REQUEST (the check throws past the FetchRefusal path; README: only a failure after the OK reply resets)',
    needs: 'Run the sha256 length check of a FETCH inside the refusal path, so it is answered with a status.',
  },
  {
    expectation: 'model.push-empty',
    outcome: 'reply:INVALID_INPUT',
    finding:
      'found by the fuzz run: a PUSH announcing 0 bytes is refused INVALID_INPUT, the status of bad inference inputs; the README gives a push HASH_MISMATCH or INVALID_MODEL',
    needs: 'Answer INVALID_MODEL (no bytes are no model), or list the refusal in the README.',
  },

  // ------------------------------------------------------------------ control socket
  {
    expectation: 'control.slow',
    outcome: 'hang',
    finding: `${ISSUE}: the control socket's deadline is 40 s, not 10 s (Node checks requestTimeout/headersTimeout every 30 s)`,
    needs: 'Set server.connectionsCheckingInterval (e.g. 1 s), and a timeout for connections that send nothing.',
  },
  {
    expectation: 'control.malformed-http',
    outcome: 'http:431',
    finding:
      "found by the fuzz run: headers over 16 KiB get Node's 431, a status the README does not list (400, 404, 500)",
    needs: 'Answer 400 for any request the HTTP parser refuses (clientError handler), or add 431 to the README.',
  },
  {
    expectation: 'control.unknown-route',
    outcome: 'crash',
    crash: 'TypeError: Invalid URL',
    finding:
      'found by the fuzz run: one request on the control socket kills the daemon: `GET //%qf HTTP/1.1` makes `new URL(req.url, base)` throw inside the request listener (uncaught ERR_INVALID_URL)',
    needs: 'Parse the URL inside a try (answer 400 or 404), e.g. `URL.parse()`, in src/daemon/control.ts.',
  },
]
