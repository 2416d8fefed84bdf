import type { Logger } from 'pino'
import type WebSocket from 'ws'
import { CLOSE } from './errors'
import type { Outgoing } from './frames'
import type { DropPolicy } from './rooms'

/** Coalescing keys kept per slow connection; past it, skipped pushes are simply dropped. */
const MAX_COALESCED = 64
/** How often a connection holding coalesced pushes checks whether its client caught up, in ms. */
const COALESCE_POLL_MS = 25
/** How often a connection behind on its writes checks that its reader is taking them, in ms. */
const SLOW_CHECK_MS = 1000
/**
 * Unsent bytes, as a multiple of maxBufferedBytes, past which a write closes the connection at once,
 * whatever its reader does: the memory bound for a client that asks for more than it reads.
 */
const HARD_BUFFER_FACTOR = 4

/** The limits and counters a backlog takes from its connection's app (part of ConnectionHost). */
export interface BacklogHost {
  readonly log: Logger
  /** Unsent bytes of earlier frames past which a reader that stops taking them is closed as a slow consumer. */
  readonly maxBufferedBytes: number
  /** Unsent bytes past which droppable pushes skip this connection (default: never skipped). */
  readonly dropThreshold?: number
  /** Told of each droppable push skipped (coalesced: kept as the latest for its key), for metrics. */
  pushDropped?(coalesced: boolean): void
}

/** The connection a backlog watches. */
export interface BacklogOwner {
  readonly id: string
  readonly socket: WebSocket
  /** Bytes of frames written to the socket so far. */
  readonly written: number
  readonly open: boolean
  close(code: number, reason: string): void
  deliver(frame: Outgoing): void
}

/**
 * What a connection does about a client behind on reading: it skips droppable pushes (dropped, or
 * coalesced and sent once the client catches up), and closes a reader that stops taking its bytes.
 * Made on a connection's first lag: a client that keeps up costs nothing.
 */
export class Backlog {
  /** While more than maxBufferedBytes wait unsent: the timer that checks the reader takes them, and how much it had taken when armed. */
  private behindTimer: NodeJS.Timeout | undefined = undefined
  private takenMark = 0
  /** The latest skipped push per coalescing key, sent once the client catches up. */
  private coalesced: Map<string, Outgoing> | undefined = undefined

  constructor(
    private readonly connection: BacklogOwner,
    private readonly host: BacklogHost,
  ) {}

  /**
   * Skips a push for a client behind on reading, instead of queueing it: dropped, or kept as the
   * latest for its coalescing key and sent once the unsent bytes are back under the threshold.
   */
  skip(frame: Outgoing, drop: DropPolicy): void {
    const pending = drop === true ? undefined : (this.coalesced ??= new Map())
    if (pending === undefined || (!pending.has(drop as string) && pending.size >= MAX_COALESCED)) {
      this.host.pushDropped?.(false)
      return
    }
    // Re-inserted, so the pushes go out in the order of their latest versions.
    pending.delete(drop as string)
    pending.set(drop as string, frame)
    this.host.pushDropped?.(true)
    if (pending.size === 1) this.waitToCatchUp()
  }

  /**
   * More than maxBufferedBytes of earlier frames were still unsent when a frame was written. A reader
   * taking bytes is never closed for it, whatever it is sent meanwhile: from now on, every
   * SLOW_CHECK_MS while the backlog stays over the bound, the reader must have taken some of it
   * (bytes written less bytes waiting must have grown); one that took nothing in a whole interval is
   * closed with 4900. A backlog past HARD_BUFFER_FACTOR times the bound closes at once: the memory
   * bound, whatever the reader does.
   */
  behind(waiting: number): void {
    if (waiting > this.host.maxBufferedBytes * HARD_BUFFER_FACTOR) return this.slowConsumer()
    if (this.behindTimer !== undefined) return
    this.takenMark = this.taken()
    this.behindTimer = setTimeout(Backlog.checkBehind, SLOW_CHECK_MS, this)
    this.behindTimer.unref()
  }

  /** Bytes the reader has taken off the socket so far (written, less still waiting). */
  private taken(): number {
    return this.connection.written - this.connection.socket.bufferedAmount
  }

  private waitToCatchUp(): void {
    const timer = setTimeout(() => {
      const pending = this.coalesced
      const connection = this.connection
      if (pending === undefined || pending.size === 0 || !connection.open) return
      if (connection.socket.bufferedAmount > (this.host.dropThreshold ?? Infinity)) return this.waitToCatchUp()
      this.coalesced = undefined
      for (const frame of pending.values()) connection.deliver(frame)
    }, COALESCE_POLL_MS)
    timer.unref()
  }

  private static checkBehind(backlog: Backlog): void {
    backlog.behindTimer = undefined
    if (!backlog.connection.open) return
    if (backlog.connection.socket.bufferedAmount <= backlog.host.maxBufferedBytes) return
    const taken = backlog.taken()
    if (taken <= backlog.takenMark) return backlog.slowConsumer()
    backlog.takenMark = taken
    backlog.behindTimer = setTimeout(Backlog.checkBehind, SLOW_CHECK_MS, backlog)
    backlog.behindTimer.unref()
  }

  private slowConsumer(): void {
    const socket = this.connection.socket
    this.host.log.warn({ client: this.connection.id, buffered: socket.bufferedAmount }, 'closing slow consumer')
    this.connection.close(CLOSE.SLOW_CONSUMER, 'slow consumer')
    // A peer that stopped reading will not read the close frame either.
    setTimeout(() => socket.terminate(), 1000).unref()
  }
}
