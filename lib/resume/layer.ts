import type { Connection } from '../connection'
import type { Outgoing } from '../frames'
import { encodeWelcome, type Codec, type Envelope, type Ref } from '../protocol'
import type { HandshakeInfo, User } from '../types'
import { Sessions, type Claim, type ResumeOptions, type SessionsHost } from './sessions'

/**
 * What a connection tells resume on its message path: every push it delivers, every request before
 * it runs, every reply and refusal, every heartbeat's acknowledgement. A connection holds the
 * `Session` it carries, or `NO_SESSION` when resume is off, and never asks which.
 */
export interface ResumeSession {
  /** Delivers one push: logged for replay when resume is on, written to the client's newest socket. */
  deliver(frame: Outgoing, connection: Connection): void
  /** A request about to run: true when it is a retry after a resume, already answered from the reply cache. */
  retry(envelope: Envelope): boolean
  /** A request let through by `retry()` was refused before it ran: a retry must run it. */
  refused(ref: Ref | undefined): void
  /** A request was answered with `frame`: kept for a retry. */
  replied(ref: Ref | undefined, frame: string): void
  /** The client has received `seen` pushes and settled every request up to ref `done` (its heartbeat says). */
  acknowledge(seen: unknown, done: unknown): void
}

/** The session of a connection when resume is off: pushes go straight to the socket, nothing is kept. Shared and frozen. */
export const NO_SESSION: ResumeSession = Object.freeze({
  deliver(frame: Outgoing, connection: Connection): void {
    connection.write(frame)
  },
  retry(): boolean {
    return false
  },
  refused(): void {},
  replied(): void {},
  acknowledge(): void {},
})

/**
 * What the app asks of resume over a connection's life: claim a session at the upgrade, open (the
 * welcome, and a resumed session's rooms and missed pushes), close (park or end), find a parked
 * client, stop. `Sessions` when resume is on, a no-op otherwise, so the app never asks which.
 */
export interface ResumeLayer {
  /** Whether a connection may outlive its socket (a parked session): its address is then read at the open. */
  readonly parks: boolean
  /**
   * Claims the session a resume request in the upgrade asks for; undefined when it asked for none.
   * A promise when the session is on another node (resume on any node): the upgrade waits for it.
   */
  claim(handshake: HandshakeInfo & { user: User | undefined }): Claim | Promise<Claim> | undefined
  /** Gives a claim back when its upgrade failed. */
  release(claim: Claim | undefined): void
  /** Writes a new connection's welcome; a resumed one takes over its session and gets the pushes it missed. */
  open(connection: Connection, claim: Claim | undefined): void
  /** A connection's socket closed: true when its session lives on (parked or resumed), so the client has not ended. */
  closed(connection: Connection, code: number, reason: string): boolean
  /** The connection of a parked session, by client id. */
  parkedConnection(id: string): Connection | undefined
  /** Ends every parked session (the app is closing). */
  stop(): void
  /** A session handoff message from node `from` (the adapter's `HandoffBus`): ignored when sessions cannot move. */
  handoffReceived(from: string, body: string): void
}

/** Resume off: a plain welcome, nothing claimed, parked or kept. */
class NoResume implements ResumeLayer {
  readonly parks = false

  constructor(private readonly codec: Codec) {}

  claim(): undefined {
    return undefined
  }

  release(): void {}

  open(connection: Connection): void {
    connection.write(encodeWelcome(connection.id, this.codec))
  }

  closed(): boolean {
    return false
  }

  parkedConnection(): undefined {
    return undefined
  }

  stop(): void {}

  handoffReceived(): void {}
}

/** The resume layer of an app with resume off: a plain welcome written in `codec`, nothing kept. */
export function noResume(codec: Codec): ResumeLayer {
  return new NoResume(codec)
}

/**
 * The resume layer for `talk({ resume })`: `Sessions` when it is `true` or an options object, a no-op
 * when it is off. Throws a `TypeError` for bad options.
 */
export function resumeLayer(host: SessionsHost, option: boolean | ResumeOptions | undefined): ResumeLayer {
  if (option === undefined || option === false) return noResume(host.codec)
  return new Sessions(host, option === true ? {} : option)
}
