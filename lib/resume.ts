import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { Connection } from './connection'
import { CLOSE, TalkError } from './errors'
import { payloadBytes, type Outgoing } from './frames'
import { nonNegative, positive } from './checks'
import { encodeError, encodePush, RESUME_PARAM, SEEN_PARAM, type Codec, type Envelope, type Ref } from './protocol'
import type { Rooms } from './rooms'
import type { ClientState, HandshakeInfo, User } from './types'

/** Options of `talk({ resume })`: how long and how much of a dropped client's session is kept. */
export interface ResumeOptions {
  /** How long a session whose socket dropped is kept for a resume, in ms (default 120000). */
  window?: number
  /**
   * How long a parked session stays listed in presence, in ms (default 5000): past it the session
   * leaves presence (others see `leave`) while it stays resumable for the whole window, and joins
   * again when it resumes. A client back within the grace never left. 0 leaves at once.
   */
  presenceGrace?: number
  /** Sessions kept parked at once; parking one more ends the one parked longest ago (default 1000). */
  maxSessions?: number
  /** Pushes logged per session for replay (default 500). */
  maxPushes?: number
  /** Bytes of logged pushes per session (default 256 KiB). */
  maxBytes?: number
  /** Replies kept per session to answer retried requests (default 64). */
  maxReplies?: number
  /** Bytes of kept replies per session (default 64 KiB). */
  maxReplyBytes?: number
}

/** The limits every session of an app shares. */
interface Limits {
  maxPushes: number
  maxBytes: number
  maxReplies: number
  maxReplyBytes: number
}

/** What the session keeper needs of its app. */
export interface SessionsHost {
  readonly rooms: Rooms
  readonly log: Logger
  readonly codec: Codec
  readonly draining: boolean
  /** A client is gone for good: it leaves its rooms and `disconnect` is emitted. */
  ended(connection: Connection, code: number, reason: string): void
  /** A parked session's presence grace ran out: it leaves presence, still a member of its rooms for pushes. */
  absent(connection: Connection): void
  /** A session that had left presence resumed: it is listed in its rooms again. */
  present(connection: Connection): void
}

/**
 * Where parked sessions wait for their client, keyed by resume token, oldest first: in this node's
 * memory, since a session holds its connection and timers (docs/scaling.md says what resume across
 * nodes would need). Bounds and timers stay with `Sessions`: this only keeps and finds.
 */
class Parking {
  private readonly parked = new Map<string, Session>()

  /** Keeps a parked session under its token. */
  park(session: Session): void {
    this.parked.set(session.token, session)
  }

  /** Removes and returns the session parked under a token, if any. */
  claim(token: string): Session | undefined {
    const session = this.parked.get(token)
    if (session !== undefined) this.parked.delete(token)
    return session
  }

  /** Forgets a session (resumed elsewhere, expired, evicted). */
  remove(session: Session): void {
    if (this.parked.get(session.token) === session) this.parked.delete(session.token)
  }

  /** The session parked longest ago. */
  oldest(): Session | undefined {
    return this.parked.values().next().value
  }

  /** Sessions parked now. */
  get size(): number {
    return this.parked.size
  }

  /** Every parked session, oldest first. */
  values(): IterableIterator<Session> {
    return this.parked.values()
  }
}

/** A resume request read from the upgrade URL: the session it claimed (if it could) and the client's push count. */
export interface Claim {
  session: Session | undefined
  seen: number
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
 * One client's session as resume sees it, across the connections it resumes on: the pushes it was
 * sent (numbered from 1, the last `maxPushes` kept), and the replies it may ask for again.
 */
export class Session {
  /** The resume token the client holds now; a new one is issued with every welcome. */
  token: string
  /** Live (a socket is open), parked (waiting for a resume), claimed (a resume is being accepted) or ended. */
  status: 'live' | 'parked' | 'claimed' | 'ended' = 'live'
  /** The connection pushes go to: the newest one. */
  connection: Connection
  /** Connection generation: 0 for the first socket, one more for every resume. */
  epoch = 0
  /** Why its socket closed, when the session is parked. */
  closeCode = 0
  closeReason = ''
  timer: NodeJS.Timeout | undefined
  /** Runs out the presence grace of a parked session. */
  graceTimer: NodeJS.Timeout | undefined
  /** The session left presence (parked past its grace); it is listed again when it resumes. */
  absent = false

  /** The push log: a ring, oldest at `head`, grown on demand up to `maxPushes` slots (idle clients cost nothing). */
  private frames: (Outgoing | undefined)[] = []
  private sizes: number[] = []
  private head = 0
  private count = 0
  /** Number of the oldest logged push; `first + count - 1` pushes were sent in all. */
  private first = 1
  private pushBytes = 0
  private readonly replies = new Map<Ref, CachedReply>()
  private replyBytes = 0
  /** The highest numeric ref whose kept reply was evicted to stay within bounds. */
  private evictedUpTo = 0

  constructor(
    connection: Connection,
    token: string,
    private readonly limits: Limits,
    private readonly codec: Codec,
  ) {
    this.connection = connection
    this.token = token
  }

  /** The client id, the same on every connection of the session. */
  get id(): string {
    return this.connection.id
  }

  /** The client's state, carried over to the connection it resumes on. */
  get state(): ClientState {
    return this.connection.state
  }

  /** Bytes this session holds: logged pushes and kept replies. */
  get bytes(): number {
    return this.pushBytes + this.replyBytes
  }

  /** Pushes logged now. */
  get logged(): number {
    return this.count
  }

  /**
   * Counts and logs a push, then writes it to the session's newest socket, whichever connection
   * object it was handed to (an old one still sits in a handler's `ctx.client`). Only pushes come
   * here: replies are written to their own socket (Connection.write), and the client counts pushes only.
   */
  deliver(frame: Outgoing): void {
    if (this.status === 'ended') return
    const bytes = payloadBytes(frame)
    if (this.count === this.frames.length) {
      if (this.frames.length < this.limits.maxPushes) this.grow()
      else this.dropOldest()
    }
    const slot = (this.head + this.count) % this.frames.length
    this.frames[slot] = frame
    this.sizes[slot] = bytes
    this.count++
    this.pushBytes += bytes
    while (this.pushBytes > this.limits.maxBytes) this.dropOldest()
    this.connection.write(frame)
  }

  /** Whether a client that has received `seen` pushes can be given every one it missed. */
  canReplay(seen: number): boolean {
    return Number.isSafeInteger(seen) && seen >= this.first - 1 && seen <= this.first + this.count - 1
  }

  /** The logged pushes after the first `seen`, in order. */
  missed(seen: number): Outgoing[] {
    const out: Outgoing[] = []
    for (let i = Math.max(0, seen + 1 - this.first); i < this.count; i++) {
      out.push(this.frames[(this.head + i) % this.frames.length] as Outgoing)
    }
    return out
  }

  /** The client says it has received `seen` pushes and settled every request up to ref `done`: forget those. */
  acknowledge(seen: unknown, done: unknown): void {
    if (typeof seen === 'number' && Number.isSafeInteger(seen)) {
      while (this.count > 0 && this.first <= seen) this.dropOldest()
    }
    if (typeof done === 'number' && Number.isSafeInteger(done)) {
      for (const [ref, entry] of this.replies) {
        if (typeof ref === 'number' && ref <= done && entry.frame !== undefined) this.dropReply(ref, entry)
      }
    }
  }

  /**
   * Called for a request about to run or wait in the queue. A request whose ref was seen on an
   * earlier connection of this session is a retry: it is answered with the first run's reply (now,
   * or when that run ends) and true is returned, so the handler never runs twice.
   */
  retry(envelope: Envelope): boolean {
    const ref = envelope.ref
    if (ref === undefined) return false
    const entry = this.replies.get(ref)
    if (entry !== undefined && entry.epoch < this.epoch) {
      if (entry.frame !== undefined) this.connection.write(entry.frame)
      else entry.retried = true
      return true
    }
    if (entry === undefined && this.epoch > 0 && typeof ref === 'number' && ref <= this.evictedUpTo) {
      // Refs count up and a socket keeps order: a missing ref below an evicted one ran already.
      // Running it again could do the work twice, so the retry is refused instead.
      this.connection.write(encodeError(ref, new TalkError('CONFLICT', 'This request already ran; its reply is no longer kept'), this.codec))
      return true
    }
    // A ref reused on the same connection is a new request (plain clients may reuse refs).
    if (entry !== undefined) this.dropReply(ref, entry)
    this.replies.set(ref, { epoch: this.epoch, frame: undefined, bytes: 0, retried: false })
    this.trimReplies()
    return false
  }

  /** A request that `retry()` let through was refused before it ran (RATE_LIMITED): a retry must run it. */
  refused(ref: Ref | undefined): void {
    if (ref === undefined) return
    const entry = this.replies.get(ref)
    if (entry !== undefined && entry.frame === undefined) this.replies.delete(ref)
  }

  /** Keeps a request's reply for retries; a retry already waiting for it gets it on the newest socket. */
  replied(ref: Ref | undefined, frame: string): void {
    if (ref === undefined) return
    const entry = this.replies.get(ref)
    if (entry === undefined || entry.frame !== undefined) return
    entry.frame = frame
    entry.bytes = Buffer.byteLength(frame)
    this.replyBytes += entry.bytes
    if (entry.retried) {
      entry.retried = false
      this.connection.write(frame)
    }
    this.trimReplies()
  }

  /** Drops the log and the kept replies (the session ended). */
  clear(): void {
    while (this.count > 0) this.dropOldest()
    this.replies.clear()
    this.replyBytes = 0
  }

  /** Doubles the ring (8 slots at first, `maxPushes` at most), oldest first again. */
  private grow(): void {
    const capacity = Math.min(this.limits.maxPushes, Math.max(8, this.frames.length * 2))
    const frames = new Array<Outgoing | undefined>(capacity).fill(undefined)
    const sizes = new Array<number>(capacity).fill(0)
    for (let i = 0; i < this.count; i++) {
      const from = (this.head + i) % this.frames.length
      frames[i] = this.frames[from]
      sizes[i] = this.sizes[from] ?? 0
    }
    this.frames = frames
    this.sizes = sizes
    this.head = 0
  }

  private dropOldest(): void {
    if (this.count === 0) return
    this.frames[this.head] = undefined
    this.pushBytes -= this.sizes[this.head] ?? 0
    this.head = (this.head + 1) % this.frames.length
    this.count--
    this.first++
  }

  private dropReply(ref: Ref, entry: CachedReply): void {
    this.replies.delete(ref)
    this.replyBytes -= entry.bytes
  }

  /** Forgets the oldest answered replies past the bounds; replies still being worked on stay. */
  private trimReplies(): void {
    if (this.replies.size <= this.limits.maxReplies && this.replyBytes <= this.limits.maxReplyBytes) return
    for (const [ref, entry] of this.replies) {
      if (this.replies.size <= this.limits.maxReplies && this.replyBytes <= this.limits.maxReplyBytes) return
      if (entry.frame === undefined) continue
      this.dropReply(ref, entry)
      if (typeof ref === 'number' && ref > this.evictedUpTo) this.evictedUpTo = ref
    }
  }
}

/**
 * Close codes after which a session is parked: no close frame came (1006, the network dropped), or
 * the Talk client closed a socket it means to resume (4901). Any other close frame from the client
 * is a goodbye, whatever its code (1005, no code, is what a browser's `ws.close()` sends).
 */
const PARKED = new Set<number>([1006, CLOSE.WILL_RESUME])

/**
 * Keeps client sessions resumable: issues resume tokens, parks a session when its socket drops
 * abnormally (the client stays a member of its rooms, pushes to it are logged), and hands it to the
 * connection that presents the token within the window, with every push it missed.
 */
export class Sessions {
  /** How long a parked session is kept, in ms. */
  readonly window: number
  /** At most this many sessions are parked at once. */
  readonly maxSessions: number
  /** How long a parked session stays in presence, in ms. */
  readonly presenceGrace: number
  private readonly limits: Limits
  private readonly parking = new Parking()
  /** Live sessions by their current token (a client may resume before its old socket is seen to die). */
  private readonly live = new Map<string, Session>()
  /** Parked sessions by client id, for joins and pushes from handlers still running. */
  private readonly parkedById = new Map<string, Session>()

  constructor(
    private readonly host: SessionsHost,
    options: ResumeOptions = {},
  ) {
    if (options === null || typeof options !== 'object') throw new TypeError('talk(): resume must be true or an options object')
    this.window = positive('resume.window', options.window ?? 120_000)
    this.maxSessions = positive('resume.maxSessions', options.maxSessions ?? 1000)
    this.presenceGrace = nonNegative('resume.presenceGrace', options.presenceGrace ?? 5000)
    this.limits = {
      maxPushes: positive('resume.maxPushes', options.maxPushes ?? 500),
      maxBytes: positive('resume.maxBytes', options.maxBytes ?? 256 * 1024),
      maxReplies: positive('resume.maxReplies', options.maxReplies ?? 64),
      maxReplyBytes: positive('resume.maxReplyBytes', options.maxReplyBytes ?? 64 * 1024),
    }
  }

  /** Sessions parked now. */
  get parked(): number {
    return this.parking.size
  }

  /** Bytes held by parked sessions (logged pushes and kept replies). */
  get parkedBytes(): number {
    let bytes = 0
    for (const session of this.parking.values()) bytes += session.bytes
    return bytes
  }

  /** The connection of a parked session by client id (handlers still running for it may join rooms or push). */
  parkedConnection(id: string): Connection | undefined {
    return this.parkedById.get(id)?.connection
  }

  /**
   * Reads a resume request from the upgrade's query (`talk-resume`, `talk-seen`) and claims its
   * session, before the socket opens. Undefined when the client asked for none. A session that
   * cannot be handed over whole (unknown or expired token, other user, pushes lost past the log)
   * is not claimed: the client gets a fresh session.
   */
  claim(handshake: HandshakeInfo & { user: User | undefined }): Claim | undefined {
    const token = handshake.query[RESUME_PARAM]
    if (token === undefined) return undefined
    const seen = Number(handshake.query[SEEN_PARAM] ?? '0')
    let session = this.live.get(token)
    if (session === undefined) session = this.parking.claim(token)
    if (session === undefined || session.status === 'ended' || session.status === 'claimed') return { session: undefined, seen }
    const wasLive = session.status === 'live'
    if (!sameUser(session.connection.user, handshake.user) || !session.canReplay(seen)) {
      // The client will start over with a new id: this session has nobody left to resume it.
      if (wasLive) {
        this.live.delete(session.token)
        session.status = 'ended'
        session.connection.socket.terminate()
      } else {
        this.end(session)
      }
      return { session: undefined, seen }
    }
    if (wasLive) {
      // The client saw its socket die before we did: the old socket is cut, its close ignored.
      this.live.delete(session.token)
      session.status = 'claimed'
      session.connection.socket.terminate()
    } else {
      this.unpark(session)
      session.status = 'claimed'
    }
    return { session, seen }
  }

  /** Gives a claimed session back when its upgrade failed: it waits out the rest of a window. */
  release(claim: Claim): void {
    const session = claim.session
    if (session === undefined || session.status !== 'claimed') return
    this.park(session, session.closeCode || 1006, session.closeReason)
  }

  /**
   * Starts or resumes the session of a new connection and writes its welcome: the resume token, and
   * `resumed` when the client asked for a resume. A resumed connection takes over the client id,
   * state and rooms, and gets every push it missed right after the welcome, before any new one.
   */
  open(connection: Connection, welcome: Record<string, unknown>, claim: Claim | undefined): void {
    const token = newToken()
    const session = claim?.session
    if (session === undefined) {
      const fresh = new Session(connection, token, this.limits, this.host.codec)
      connection.session = fresh
      this.live.set(token, fresh)
      const fields = claim === undefined ? { resume: token } : { resume: token, resumed: false }
      connection.write(encodePush('welcome', { ...welcome, ...fields }, this.host.codec))
      return
    }
    const previous = session.connection
    session.connection = connection
    session.token = token
    session.epoch++
    session.status = 'live'
    connection.session = session
    this.live.set(token, session)
    const rooms = this.host.rooms
    for (const room of previous.rooms) {
      connection.enter(room)
      // Swap the member in place: to presence and the adapter the client never left.
      rooms.leave(room, connection.id)
      rooms.join(room, connection)
    }
    if (session.absent) {
      session.absent = false
      this.host.present(connection)
    }
    connection.write(encodePush('welcome', { ...welcome, resume: token, resumed: true }, this.host.codec))
    for (const frame of session.missed(claim!.seen)) connection.write(frame)
    session.acknowledge(claim!.seen, undefined)
  }

  /**
   * A connection's socket closed. True when the session lives on (parked, or resumed on a newer
   * socket): the app must not end the client then. Only a socket lost without a close frame (1006)
   * or closed by the Talk client to resume (4901) parks it: any other close frame from the client
   * (a goodbye, whatever its code), a close the server asked for, or a draining app ends it.
   */
  closed(connection: Connection, code: number, reason: string): boolean {
    const session = connection.session
    if (session === undefined) return false
    if (session.connection !== connection || session.status === 'claimed' || session.status === 'parked') return true
    this.live.delete(session.token)
    if (session.status === 'ended') {
      session.clear()
      return false
    }
    if (!PARKED.has(code) || connection.closedByServer || this.host.draining) {
      session.status = 'ended'
      session.clear()
      return false
    }
    this.park(session, code, reason)
    return true
  }

  /** Ends every parked session (the app is closing). */
  stop(): void {
    for (const session of [...this.parking.values()]) this.end(session)
  }

  private park(session: Session, code: number, reason: string): void {
    session.status = 'parked'
    session.closeCode = code
    session.closeReason = reason
    session.timer = setTimeout(() => this.end(session), this.window)
    session.timer.unref()
    if (!session.absent) {
      // A released claim (its upgrade failed) may have left presence already: no second leave.
      session.graceTimer = setTimeout(() => this.leavePresence(session), this.presenceGrace)
      session.graceTimer.unref()
    }
    this.parking.park(session)
    this.parkedById.set(session.id, session)
    while (this.parking.size > this.maxSessions) {
      const oldest = this.parking.oldest()
      if (oldest === undefined) break
      this.host.log.debug({ client: oldest.id }, 'resume: parked session evicted')
      this.end(oldest)
    }
  }

  /** A parked session's grace ran out: others see it leave, though it can still resume. */
  private leavePresence(session: Session): void {
    session.graceTimer = undefined
    if (session.status !== 'parked') return
    session.absent = true
    this.host.absent(session.connection)
  }

  private unpark(session: Session): void {
    clearTimeout(session.timer)
    session.timer = undefined
    clearTimeout(session.graceTimer)
    session.graceTimer = undefined
    this.parking.remove(session)
    if (this.parkedById.get(session.id) === session) this.parkedById.delete(session.id)
  }

  /** A parked session's window passed (or it was evicted): the client is gone for good. */
  private end(session: Session): void {
    this.unpark(session)
    session.status = 'ended'
    session.clear()
    this.host.ended(session.connection, session.closeCode || 1006, session.closeReason)
  }
}

/** Whether two handshakes name the same user: by `id`, else `sub`, else the whole object. */
function sameUser(a: User | undefined, b: User | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  const key = 'id' in a || 'id' in b ? 'id' : 'sub' in a || 'sub' in b ? 'sub' : undefined
  if (key !== undefined) return a[key] === b[key]
  try {
    return JSON.stringify(a) === JSON.stringify(b)
  } catch {
    return false
  }
}

function newToken(): string {
  return randomBytes(18).toString('base64url')
}
