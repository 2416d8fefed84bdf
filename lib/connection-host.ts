import type { BacklogHost } from './backlog'
import type { Connection } from './connection'
import type { TalkError } from './errors'
import type { Codec, Envelope } from './protocol'
import type { JsonLimits } from './security/json-bounds'

/** Limits and hooks a connection gets from its app. */
export interface ConnectionHost extends BacklogHost {
  readonly codec: Codec
  /** Requests a connection may have waiting (beyond those running) before it answers RATE_LIMITED. */
  readonly maxQueue: number
  /** Requests of one connection handled at once; 1 keeps them in arrival order. */
  readonly concurrency: number
  /** Largest success reply written, in bytes; a bigger one is answered PAYLOAD_TOO_LARGE instead. */
  readonly maxReplyBytes: number
  /** Requests (and refusals) one connection starts in one event-loop turn before it yields. */
  readonly maxRequestsPerTurn: number
  /** Time one connection's requests may take in one event-loop turn before it yields, in ms. */
  readonly maxTurnMs: number
  /** True once the app is closing: new requests are answered UNAVAILABLE. */
  readonly draining: boolean
  /** Runs one request through the chain; resolves once it is answered. */
  dispatch(connection: Connection, envelope: Envelope): Promise<void>
  /** Asks for `connection.endTurn()` (its corked writes flushed, its turn budget renewed) at the end of this event-loop turn. */
  flushLater(connection: Connection): void
  /** Told of each request refused because the connection's queue was full (the rate limiter counts it toward its close). */
  overflowed?(connection: Connection, envelope: Envelope, err: TalkError): void
  /** Called once when the socket has closed. */
  closed(connection: Connection, code: number, reason: string): void
  /** Depth and size bounds for decoded frames (default: decode's). */
  readonly jsonLimits?: JsonLimits
  /** Told of each error answered before any route ran (bad frame, draining, full queue), for metrics. */
  frameError?(code: string): void
}
