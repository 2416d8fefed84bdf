import { TalkError } from '../errors'
import { encodeError, type Codec, type Ref } from '../protocol'

/** Where a retried request's reply is written: the session's newest connection. */
export interface ReplyTarget {
  write(frame: string): void
}

interface CachedReply {
  /** The connection generation the request arrived on; a retry comes on a later one. */
  epoch: number
  /** The encoded reply, once the request is answered. */
  frame: string | undefined
  bytes: number
  /** A retry is waiting for the first run's reply. */
  retried: boolean
}

/**
 * The replies one session keeps, by ref, so that a request its client sends again after a resume is
 * answered with the first run's reply instead of running twice: the last `maxReplies` answered within
 * `maxBytes`, and every request still being worked on.
 */
export class ReplyCache {
  private readonly replies = new Map<Ref, CachedReply>()
  private size = 0
  /** The highest numeric ref whose kept reply was evicted to stay within bounds. */
  private evictedUpTo = 0

  constructor(
    private readonly maxReplies: number,
    private readonly maxBytes: number,
    private readonly codec: Codec,
  ) {}

  /** Bytes of the replies kept now. */
  get bytes(): number {
    return this.size
  }

  /**
   * Called for a request about to run or wait in the queue, on connection generation `epoch`. A ref
   * seen on an earlier connection is a retry: it is answered on `target` with the first run's reply
   * (now, or when that run ends) and true is returned, so the handler never runs twice.
   */
  retry(ref: Ref, epoch: number, target: ReplyTarget): boolean {
    const entry = this.replies.get(ref)
    if (entry !== undefined && entry.epoch < epoch) {
      if (entry.frame !== undefined) target.write(entry.frame)
      else entry.retried = true
      return true
    }
    if (entry === undefined && epoch > 0 && typeof ref === 'number' && ref <= this.evictedUpTo) {
      // Refs count up and a socket keeps order: a missing ref below an evicted one ran already.
      // Running it again could do the work twice, so the retry is refused instead.
      target.write(encodeError(ref, new TalkError('CONFLICT', 'This request already ran; its reply is no longer kept'), this.codec))
      return true
    }
    // A ref reused on the same connection is a new request (plain clients may reuse refs).
    if (entry !== undefined) this.drop(ref, entry)
    this.replies.set(ref, { epoch, frame: undefined, bytes: 0, retried: false })
    this.trim()
    return false
  }

  /** A request that `retry()` let through was refused before it ran (RATE_LIMITED): a retry must run it. */
  refused(ref: Ref): void {
    const entry = this.replies.get(ref)
    if (entry !== undefined && entry.frame === undefined) this.replies.delete(ref)
  }

  /** Keeps a request's reply for retries; a retry already waiting for it gets it on `target`. */
  replied(ref: Ref, frame: string, target: ReplyTarget): void {
    const entry = this.replies.get(ref)
    if (entry === undefined || entry.frame !== undefined) return
    entry.frame = frame
    entry.bytes = Buffer.byteLength(frame)
    this.size += entry.bytes
    if (entry.retried) {
      entry.retried = false
      target.write(frame)
    }
    this.trim()
  }

  /** The client has settled every request up to ref `done`: their replies are forgotten. */
  acknowledge(done: number): void {
    for (const [ref, entry] of this.replies) {
      if (typeof ref === 'number' && ref <= done && entry.frame !== undefined) this.drop(ref, entry)
    }
  }

  /** Requests still being worked on (no reply yet). */
  get running(): number {
    let running = 0
    for (const entry of this.replies.values()) if (entry.frame === undefined) running++
    return running
  }

  /** The replies kept, by ref, and the refs still being worked on: what a session moving to another node takes along. */
  export(): { answered: [Ref, string][]; running: Ref[] } {
    const answered: [Ref, string][] = []
    const running: Ref[] = []
    for (const [ref, entry] of this.replies) {
      if (entry.frame === undefined) running.push(ref)
      else answered.push([ref, entry.frame])
    }
    return { answered, running }
  }

  /**
   * Takes over the replies of a session that moved here from another node, as kept on connection
   * generation `epoch`. A request still running there when it moved is answered TIMEOUT on a retry:
   * its outcome is not known here, and running it again could do the work twice.
   */
  adopt(answered: readonly (readonly [Ref, string])[], running: readonly Ref[], epoch: number): void {
    for (const [ref, frame] of answered) {
      const bytes = Buffer.byteLength(frame)
      this.replies.set(ref, { epoch, frame, bytes, retried: false })
      this.size += bytes
    }
    for (const ref of running) {
      const frame = encodeError(ref, new TalkError('TIMEOUT', 'The request was still running when the session moved to this server; its outcome is unknown'), this.codec)
      this.replies.set(ref, { epoch, frame, bytes: Buffer.byteLength(frame), retried: false })
    }
    this.trim()
  }

  /** Forgets every kept reply (the session ended). */
  clear(): void {
    this.replies.clear()
    this.size = 0
  }

  private drop(ref: Ref, entry: CachedReply): void {
    this.replies.delete(ref)
    this.size -= entry.bytes
  }

  /** Forgets the oldest answered replies past the bounds; replies still being worked on stay. */
  private trim(): void {
    if (this.replies.size <= this.maxReplies && this.size <= this.maxBytes) return
    for (const [ref, entry] of this.replies) {
      if (this.replies.size <= this.maxReplies && this.size <= this.maxBytes) return
      if (entry.frame === undefined) continue
      this.drop(ref, entry)
      if (typeof ref === 'number' && ref > this.evictedUpTo) this.evictedUpTo = ref
    }
  }
}
