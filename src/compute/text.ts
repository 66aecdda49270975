/** Longest reply message, in UTF-16 code units; longer ones are cut (error messages quote peer input). */
export const MAX_MESSAGE_CHARS = 1024

/** Longest peer-provided name a message quotes, in UTF-16 code units. */
export const MAX_QUOTED_CHARS = 80

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/**
 * `value` made safe to send back in a protobuf `string`: lone surrogates (which encode as invalid UTF-8, so
 * strict proto3 parsers reject the whole message) become U+FFFD, and it is cut to `maxChars` on a code point
 * boundary, marked with an ellipsis.
 */
export function peerText(value: string, maxChars = MAX_MESSAGE_CHARS): string {
  const wellFormed = value.replace(LONE_SURROGATE, '\uFFFD')
  if (wellFormed.length <= maxChars) return wellFormed
  let end = Math.max(0, maxChars - 1)
  const last = wellFormed.charCodeAt(end - 1)
  if (last >= 0xd800 && last <= 0xdbff) end--
  return `${wellFormed.slice(0, end)}…`
}

/** A peer-provided name as a message quotes it: well-formed, bounded, with quotes and control characters escaped. */
export function quoted(value: string): string {
  return JSON.stringify(peerText(value, MAX_QUOTED_CHARS))
}
