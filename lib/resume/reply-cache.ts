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
