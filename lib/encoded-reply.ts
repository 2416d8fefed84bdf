import type { Codec } from './protocol'

/**
 * A reply payload encoded once and sent many times: `ctx.reply(encoded)` writes the text kept from
 * its first use instead of encoding (and checking against the route's reply schema) the payload on
 * every reply. For a big reply that many requests get unchanged — a document at one version — this
 * removes most of a reply's cost (docs/performance.md, "Fairness"). The payload must not change
 * once it is wrapped: make a new one for each version.
 *
 * The reply schema still applies: the first reply on a route parses the payload with its schema (a
 * mismatch is answered INTERNAL, as for any reply), and the text sent is that of the parsed value.
 *
 * @example
 * const replies = new WeakMap<Doc, EncodedReply<DocReply>>()
 * app.route('document/get', spec, async (ctx) => {
 *   const doc = await store.get(ctx.body.id)
 *   let reply = replies.get(doc)
 *   if (reply === undefined) replies.set(doc, (reply = new EncodedReply({ document: doc })))
 *   ctx.reply(reply)
 * })
 */
export class EncodedReply<Reply extends object = object> {
  /** The reply schema the payload was last parsed by (lib/context.ts), and the codec and text it was last encoded with (lib/protocol.ts). */
  private checkedBy: unknown = undefined
  private encodedWith: Codec | undefined = undefined
  private encodedText = ''
  private encodedBytes: Uint8Array | undefined = undefined

  constructor(private payload: Reply) {}

  /** The payload: as given, or as the route's reply schema parsed it once it was checked. */
  get value(): Reply {
    return this.payload
  }

  /** Whether the payload was checked by `schema` already (a reply on the same route). */
  checkedWith(schema: object): boolean {
    return this.checkedBy === schema
  }

  /** Records that `schema` accepted the payload, giving `parsed`: the value sent from now on. */
  checked(schema: object, parsed: Reply): void {
    this.checkedBy = schema
    if (parsed !== this.payload) {
      this.payload = parsed
      this.encodedWith = undefined
      this.encodedBytes = undefined
    }
  }

  /** The text kept for `codec` (the reply's end: its fields and closing brace), or undefined when it was never encoded with it. */
  textFor(codec: Codec): string | undefined {
    return this.encodedWith === codec ? this.encodedText : undefined
  }

  /** Keeps `text`, the payload encoded with `codec`: the reply's end, after `status` and `ref`. */
  keep(codec: Codec, text: string): void {
    this.encodedWith = codec
    this.encodedText = text
    this.encodedBytes = undefined
  }

  /** The UTF-8 bytes of the kept text, once a socket asked for them (`keepBytes`). */
  get bytes(): Uint8Array | undefined {
    return this.encodedBytes
  }

  /** Keeps the UTF-8 bytes of the kept text, so every socket writes the same bytes. */
  keepBytes(bytes: Uint8Array): void {
    this.encodedBytes = bytes
  }
}
