import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'

/**
 * js-libp2p-yamux 8 sends a window update after every data frame it receives, however small: a lease's 60-byte tick
 * costs the receiver a second noise-encrypted TCP write (the update) and the sender a second read. go-yamux and
 * rust-yamux send one once half the receive window has been consumed, which the spec leaves to the receiver
 * ("window update frames should be sent regularly"). This applies that rule: a stream that has consumed less than
 * half its window sends no update yet (the sender still holds at least half a window, so it is never blocked by the
 * wait); at half, and whenever the update carries a flag (SYN, ACK) or the stream resumes from a pause, yamux's own
 * code runs unchanged, window auto-tuning included.
 */

/** What the patch reads of a yamux stream (fields yamux 8 declares private, so they are named here). */
interface YamuxReceiveWindow {
  state: StreamState
  recvWindow: number
  recvWindowCapacity: number
}

/** The rule: skip the update while less than half the window is consumed and no flag needs sending. */
export function windowUpdateDue(stream: YamuxReceiveWindow): boolean {
  if (stream.state !== StreamState.Established && stream.state !== StreamState.SYNSent) return true
  return stream.recvWindow - stream.recvWindowCapacity >= stream.recvWindow / 2
}

const PATCHED = Symbol.for('parkbench.yamuxHalfWindowUpdates')

/** Install the rule on yamux's stream class, once per process; create-node calls it. */
export function sendYamuxWindowUpdatesAtHalf(): void {
  const proto = YamuxStream.prototype as unknown as {
    sendWindowUpdate(): void
    [PATCHED]?: true
  }
  if (proto[PATCHED] === true) return
  const original = proto.sendWindowUpdate
  if (typeof original !== 'function') throw new TypeError('yamux has no sendWindowUpdate: check the patch')
  proto.sendWindowUpdate = function sendWindowUpdate(this: YamuxReceiveWindow & { sendWindowUpdate(): void }) {
    if (!windowUpdateDue(this)) return
    original.call(this)
  }
  proto[PATCHED] = true
}
