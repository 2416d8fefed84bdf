import type { Connection } from '../connection'
import type { Outgoing } from '../frames'
import type { Codec, Envelope, Ref } from '../protocol'
import type { ClientState } from '../types'
import type { ResumeSession } from './layer'
import { PushLog } from './push-log'
import { ReplyCache } from './reply-cache'

/** The bounds every session of an app shares (`ResumeOptions`, defaults applied). */
export interface SessionLimits {
  maxPushes: number
  maxBytes: number
  maxReplies: number
  maxReplyBytes: number
}

/**
 * One client's session as resume sees it, across the connections it resumes on: the pushes it was
 * sent (lib/resume/push-log.ts) and the replies it may ask for again (lib/resume/reply-cache.ts).
 */
export class Session implements ResumeSession {
  /** The resume token the client holds now; a new one is issued with every welcome. */
  token: string
  /** Live (a socket is open), parked (waiting for a resume), claimed (a resume is being accepted), moved (to another node) or ended. */
  status: 'live' | 'parked' | 'claimed' | 'moved' | 'ended' = 'live'
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

  private readonly pushes: PushLog
  private readonly replies: ReplyCache

  constructor(connection: Connection, token: string, limits: SessionLimits, codec: Codec) {
    this.connection = connection
    this.token = token
    this.pushes = new PushLog(limits.maxPushes, limits.maxBytes)
    this.replies = new ReplyCache(limits.maxReplies, limits.maxReplyBytes, codec)
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
    return this.pushes.bytes + this.replies.bytes
  }

  /** Pushes logged now. */
  get logged(): number {
    return this.pushes.logged
  }

  /**
   * Counts and logs a push, then writes it to the session's newest socket, whichever connection
   * object it was handed to (an old one still sits in a handler's `ctx.client`). Only pushes come
   * here: replies are written to their own socket (Connection.write), and the client counts pushes only.
   */
  deliver(frame: Outgoing): void {
    if (this.status === 'ended' || this.status === 'moved') return
    this.pushes.append(frame)
    this.connection.write(frame)
  }

  /** Requests of this session still being worked on. */
  get running(): number {
    return this.replies.running
  }

  /** The kept replies and the requests still running, for a move to another node. */
  exportReplies(): { answered: [Ref, string][]; running: Ref[] } {
    return this.replies.export()
  }

  /**
   * Continues a session that moved here from another node: its connection generation there, the
   * pushes its client will have had once given the missed ones, and its kept replies.
   */
  continueFrom(epoch: number, pushes: number, answered: readonly (readonly [Ref, string])[], running: readonly Ref[]): void {
    this.epoch = epoch + 1
    this.pushes.continueAfter(pushes)
    this.replies.adopt(answered, running, epoch)
  }

  /** Whether a client that has received `seen` pushes can be given every one it missed. */
  canReplay(seen: number): boolean {
    return this.pushes.canReplay(seen)
  }

  /** The logged pushes after the first `seen`, in order. */
  missed(seen: number): Outgoing[] {
    return this.pushes.missed(seen)
  }

  /** The client says it has received `seen` pushes and settled every request up to ref `done`: forget those. */
  acknowledge(seen: unknown, done: unknown): void {
    if (typeof seen === 'number' && Number.isSafeInteger(seen)) this.pushes.acknowledge(seen)
    if (typeof done === 'number' && Number.isSafeInteger(done)) this.replies.acknowledge(done)
  }

  /** A request about to run: true when it is a retry after a resume, answered from the reply cache. */
  retry(envelope: Envelope): boolean {
    const ref = envelope.ref
    return ref !== undefined && this.replies.retry(ref, this.epoch, this.connection)
  }

  /** A request that `retry()` let through was refused before it ran (RATE_LIMITED): a retry must run it. */
  refused(ref: Ref | undefined): void {
    if (ref !== undefined) this.replies.refused(ref)
  }

  /** Keeps a request's reply for retries; a retry already waiting for it gets it on the newest socket. */
  replied(ref: Ref | undefined, frame: string): void {
    if (ref !== undefined) this.replies.replied(ref, frame, this.connection)
  }

  /** Drops the log and the kept replies (the session ended). */
  clear(): void {
    this.pushes.clear()
    this.replies.clear()
  }
}
