import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { Connection } from '../connection'
import { CLOSE } from '../errors'
import { nonNegative, positive } from '../checks'
import { encodeWelcome, RESUME_PARAM, SEEN_PARAM, type Codec } from '../protocol'
import type { Rooms } from '../rooms'
import type { HandoffBus } from '../adapters/adapter'
import type { HandshakeInfo, User } from '../types'
import { Handoff, type HandoffHost, type Moved } from './handoff'
import type { ResumeLayer } from './layer'
import { Parking } from './parking'
import { sameUser } from './same-user'
import { Session, type SessionLimits } from './session'

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
  /** This node's id, and the adapter's way to move sessions between nodes (absent: resume stays on this node). */
  readonly nodeId: string
  readonly handoffBus: HandoffBus | undefined
  /** A session moved to another node: it leaves its rooms here quietly (presence included, no events). */
  movedAway(connection: Connection): void
  /** A session moved here: it takes its rooms (listed in presence; with `join` pushes only if it had left presence). */
  adopt(connection: Connection, rooms: readonly string[], absent: boolean): void
}

/**
 * A resume request read from the upgrade URL: the session it claimed (if it could) and the client's
 * push count; `moved` when the session came from another node (resume on any node).
 */
export interface Claim {
  session: Session | undefined
  seen: number
  moved?: Moved | undefined
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
export class Sessions implements ResumeLayer, HandoffHost {
  /** How long a parked session is kept, in ms. */
  readonly window: number
  /** At most this many sessions are parked at once. */
  readonly maxSessions: number
  /** How long a parked session stays in presence, in ms. */
  readonly presenceGrace: number
  /** A parked session outlives its socket: a connection's address is read at the open. */
  readonly parks = true
  private readonly limits: SessionLimits
  private readonly parking = new Parking()
  /** Live sessions by their current token (a client may resume before its old socket is seen to die). */
  private readonly live = new Map<string, Session>()
  /** Moves sessions between nodes, when the adapter can. */
  private readonly handoff: Handoff | undefined

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
    this.handoff = host.handoffBus === undefined ? undefined : new Handoff(this, host.handoffBus)
    host.handoffBus?.enable()
  }

  /** This node's id (HandoffHost). */
  get nodeId(): string {
    return this.host.nodeId
  }

  /** The log (HandoffHost). */
  get log(): Logger {
    return this.host.log
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
    return this.parking.find(id)?.connection
  }

  /**
   * Reads a resume request from the upgrade's query (`talk-resume`, `talk-seen`) and claims its
   * session, before the socket opens. Undefined when the client asked for none. A session that
   * cannot be handed over whole (unknown or expired token, other user, pushes lost past the log)
   * is not claimed: the client gets a fresh session.
   */
  claim(handshake: HandshakeInfo & { user: User | undefined }): Claim | Promise<Claim> | undefined {
    const token = handshake.query[RESUME_PARAM]
    if (token === undefined) return undefined
    const seen = Number(handshake.query[SEEN_PARAM] ?? '0')
    const owner = Handoff.ownerOf(token)
    if (this.handoff !== undefined && owner !== undefined && owner !== this.host.nodeId) {
      // Issued by another node: the session moves here if that node still has it (lib/resume/handoff.ts).
      return this.handoff.claim(owner, token, seen, handshake.user).then((moved) => ({ session: undefined, seen, moved }))
    }
    return { session: this.surrender(token, seen, handshake.user), seen }
  }

  /**
   * Claims the session of a token for a resume (here, or on another node: HandoffHost); undefined
   * when there is none to hand over whole (unknown or expired token, other user, pushes lost past
   * the log). A live session's socket is cut first: the client saw it die before this node did.
   */
  surrender(token: string, seen: number, user: User | undefined): Session | undefined {
    let session = this.live.get(token)
    if (session === undefined) session = this.parking.claim(token)
    if (session === undefined || (session.status !== 'live' && session.status !== 'parked')) return undefined
    const wasLive = session.status === 'live'
    if (!sameUser(session.connection.user, user) || !session.canReplay(seen)) {
      // The client will start over with a new id: this session has nobody left to resume it.
      if (wasLive) {
        this.live.delete(session.token)
        session.status = 'ended'
        session.connection.socket.terminate()
      } else {
        this.end(session)
      }
      return undefined
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
    return session
  }

  /** A claimed session moved to another node: it ends here quietly (HandoffHost). */
  movedAway(session: Session): void {
    // Its socket may close after this (a live session's was cut): 'moved' keeps that close quiet.
    session.status = 'moved'
    session.clear()
    this.host.movedAway(session.connection)
  }

  /** A claimed session was never taken by the node that claimed it: the client is gone (HandoffHost). */
  abandoned(session: Session): void {
    this.end(session)
  }

  /** A handoff message from another node (resume on any node). */
  handoffReceived(from: string, body: string): void {
    this.handoff?.received(from, body)
  }

  /** Gives a claimed session back when its upgrade failed: it waits out the rest of a window. */
  release(claim: Claim | undefined): void {
    if (claim?.moved !== undefined) {
      // Its old node let it go: with the socket gone before the welcome, the client starts afresh next time.
      claim.moved.capture.stop()
      this.host.log.debug({ client: claim.moved.session.id }, 'resume: a session moved here, but its socket closed first')
      return
    }
    const session = claim?.session
    if (session === undefined || session.status !== 'claimed') return
    this.park(session, session.closeCode || 1006, session.closeReason)
  }

  /**
   * Starts or resumes the session of a new connection and writes its welcome: the resume token, and
   * `resumed` when the client asked for a resume. A resumed connection takes over the client id,
   * state and rooms, and gets every push it missed right after the welcome, before any new one.
   */
  open(connection: Connection, claim: Claim | undefined): void {
    const token = this.newToken()
    if (claim?.moved !== undefined && this.openMoved(connection, claim.moved, token)) return
    if (claim?.session === undefined) {
      const fresh = new Session(connection, token, this.limits, this.host.codec)
      connection.session = fresh
      this.live.set(token, fresh)
      connection.write(encodeWelcome(connection.id, this.host.codec, { token, resumed: claim === undefined ? undefined : false }))
      return
    }
    const session = claim.session
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
    connection.write(encodeWelcome(connection.id, this.host.codec, { token, resumed: true }))
    for (const frame of session.missed(claim.seen)) connection.write(frame)
    session.acknowledge(claim.seen, undefined)
  }

  /**
   * A connection's socket closed. True when the session lives on (parked, or resumed on a newer
   * socket): the app must not end the client then. Only a socket lost without a close frame (1006)
   * or closed by the Talk client to resume (4901) parks it: any other close frame from the client
   * (a goodbye, whatever its code), a close the server asked for, or a draining app ends it.
   */
  closed(connection: Connection, code: number, reason: string): boolean {
    const session = connection.session
    if (!(session instanceof Session)) return false
    if (session.connection !== connection || session.status === 'claimed' || session.status === 'parked' || session.status === 'moved') return true
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

  /**
   * Opens a session that moved here from another node: the pushes heard since the handoff's mark
   * that the snapshot does not hold, the rooms, the welcome, the missed pushes, then those heard.
   * False when the record of pushes has a hole (the client then gets a fresh session, same id).
   */
  private openMoved(connection: Connection, moved: Moved, token: string): boolean {
    // Stopped before the rooms are joined, in the same turn: no push falls between the two.
    const captured = moved.capture.stop()
    if (captured === undefined) return false
    const snapshot = moved.session
    const session = new Session(connection, token, this.limits, this.host.codec)
    session.continueFrom(snapshot.epoch, snapshot.pushes, snapshot.answered, snapshot.running)
    connection.session = session
    this.live.set(token, session)
    this.host.adopt(connection, snapshot.rooms, snapshot.absent)
    connection.write(encodeWelcome(connection.id, this.host.codec, { token, resumed: true }))
    for (const frame of snapshot.missed) connection.write(frame)
    for (const frame of Handoff.missedSince(moved, captured)) session.deliver(frame)
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
  }

  /** A new resume token; prefixed with this node's id when sessions can move, so another node knows whom to ask. */
  private newToken(): string {
    const random = randomBytes(18).toString('base64url')
    return this.handoff === undefined ? random : `${this.host.nodeId}.${random}`
  }

  /** A parked session's window passed (or it was evicted): the client is gone for good. */
  private end(session: Session): void {
    this.unpark(session)
    session.status = 'ended'
    session.clear()
    this.host.ended(session.connection, session.closeCode || 1006, session.closeReason)
  }
}


