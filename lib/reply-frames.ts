import type { EncodedReply } from './encoded-reply'
import { TalkError } from './errors'
import { encodeFrameHead } from './frames'
import { encodedReplyEnd, successHead, type Codec, type Ref } from './protocol'

/** Throws PAYLOAD_TOO_LARGE, for a reply of `bytes` bytes over `limit` (`maxReplyBytes`). */
export function checkReplySize(bytes: number, limit: number): void {
  if (bytes > limit) throw new TalkError('PAYLOAD_TOO_LARGE', `The reply was too big to send (${bytes} bytes; the limit is ${limit})`)
}

/** An encoded reply framed for a socket: the frame's start, then the bytes the reply keeps. */
export interface EncodedReplyFrame {
  /** Header, status and ref: written first. */
  head: Buffer
  /** The reply's kept bytes, the same for every request. */
  rest: Uint8Array
  /** The whole reply as text (a cons string sharing the kept text), for a resume session's retries. */
  text: string
}

/**
 * Frames an encoded reply (lib/encoded-reply.ts) for the request `ref` without copying it. A big
 * reply's text is then neither flattened nor copied per request: above 128 KB each such copy is a
 * large-object allocation (docs/performance.md, "Fairness"). Throws PAYLOAD_TOO_LARGE past `limit`.
 */
export function frameEncodedReply(reply: EncodedReply, ref: Ref | undefined, codec: Codec, limit: number): EncodedReplyFrame {
  const head = successHead(ref)
  const end = encodedReplyEnd(reply, codec)
  let rest = reply.bytes
  if (rest === undefined) reply.keepBytes((rest = Buffer.from(end)))
  checkReplySize(Buffer.byteLength(head) + rest.length, limit)
  return { head: encodeFrameHead(head, rest.length), rest, text: head + end }
}
