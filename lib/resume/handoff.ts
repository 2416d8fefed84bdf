import type { Logger } from 'pino'
import { EVERYONE, type CapturedPush, type HandoffBus, type PushCapture } from '../adapters/adapter'
import { frameText } from '../frames'
import type { Ref } from '../protocol'
import type { ClientState, User } from '../types'
import { sameUser } from './same-user'
import type { Session } from './session'

/** How long the node a session was parked on waits for its running requests to settle before handing it over, in ms. */
export const SETTLE_MS = 2000
/** How long the node a client resumes on waits for the session's node to answer, in ms: past it, a fresh session. */
export const CLAIM_TIMEOUT_MS = SETTLE_MS + 1500

/** A session as it moves between nodes: what its new node needs to continue it. */
export interface MovedSession {
  id: string
  user: User | undefined
  state: ClientState
  rooms: string[]
  /** It had left presence (parked past its grace) on the old node. */
  absent: boolean
  /** Its connection generation on the old node. */
  epoch: number
  /** Pushes its client will have had once given `missed`. */
  pushes: number
  /** The pushes its client missed, in order. */
  missed: string[]
  /** Kept replies by ref, and requests still running when it moved. */
  answered: [Ref, string][]
  running: Ref[]
  /** The number of the old node's last message when it moved (`CapturedPush.seq`). */
  ownSeq: number
}

/** A session claimed from another node: its snapshot and the pushes heard since the handoff's mark. */
export interface Moved {
  readonly owner: string
  readonly session: MovedSession
  readonly capture: PushCapture
}

/** What the handoff needs of the session keeper. */
export interface HandoffHost {
  readonly nodeId: string
  readonly log: Logger
  /** Claims a session of this node for another (as a resume here would); undefined when it cannot be resumed whole. */
  surrender(token: string, seen: number, user: User | undefined): Session | undefined
  /** A claimed session moved to another node: it ends here without a trace (no `disconnect`, no `leave`). */
  movedAway(session: Session): void
  /** A claimed session was never taken (the other node went quiet): it ends here as a dropped client does. */
  abandoned(session: Session): void
}

type Message =
  | { t: 'claim'; claim: string; token: string; seen: number; user: User | null }
  | { t: 'ready'; claim: string; rooms: string[] }
  | { t: 'refused'; claim: string }
  | { t: 'mark'; claim: string }
  | { t: 'moved'; claim: string; session: MovedSession }

/** A claim this node sent, waiting for the session's node. */
interface Asking {
  owner: string
  user: User | undefined
  settle: (moved: Moved | undefined) => void
  capture?: PushCapture
}

/** A session of this node another node claimed, waiting for its mark. */
interface Giving {
  session: Session
  seen: number
  timer: NodeJS.Timeout
}

/**
 * Resume on any node: a session moves from the node it was parked on (A) to the node its client
 * resumed on (B) over the adapter's `HandoffBus`. B sends a claim; A claims the session, lets its
 * running requests settle (at most SETTLE_MS) and answers with its rooms; B makes sure it hears
 * those rooms and sends a mark, recording every push from the mark on; A, on the mark, takes the
 * snapshot (client, state, rooms, missed pushes, kept replies, its own last message number) and
 * leaves quietly. B then drops what the snapshot already holds: everything before the mark, and A's
 * own pushes up to that number (docs/scaling.md, "Resume on any node").
 */
export class Handoff {
  private readonly asking = new Map<string, Asking>()
  private readonly giving = new Map<string, Giving>()
  private claims = 0

  constructor(
    private readonly host: HandoffHost,
    readonly bus: HandoffBus,
  ) {}

  /** The node that issued a token (its prefix, lib/resume/sessions.ts), or undefined for a token without one. */
  static ownerOf(token: string): string | undefined {
    const dot = token.indexOf('.')
    return dot > 0 ? token.slice(0, dot) : undefined
  }

  /** Claims a session from node `owner`: resolves with it, or undefined when it cannot move (then the client starts afresh). */
  claim(owner: string, token: string, seen: number, user: User | undefined): Promise<Moved | undefined> {
    const claim = `${this.host.nodeId}:${++this.claims}`
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(undefined), CLAIM_TIMEOUT_MS)
      timer.unref()
      const finish = (moved: Moved | undefined): void => {
        clearTimeout(timer)
        const asking = this.asking.get(claim)
        this.asking.delete(claim)
        if (moved === undefined) asking?.capture?.stop()
        resolve(moved)
      }
      this.asking.set(claim, { owner, user, settle: finish })
      this.send(owner, { t: 'claim', claim, token, seen, user: user ?? null })
    })
  }

  /** A handoff message from node `from` arrived, in the shared channel's order. */
  received(from: string, body: string): void {
    let message: Message
    try {
      message = JSON.parse(body) as Message
    } catch {
      return
    }
    if (message.t === 'claim') void this.give(from, message.claim, message.token, message.seen, message.user ?? undefined)
    else if (message.t === 'mark') this.marked(from, message.claim)
    else this.answered(from, message)
  }

  /** Which captured pushes a moved session still needs, in order: those after the snapshot that are for it. */
  static missedSince(moved: Moved, captured: readonly CapturedPush[]): string[] {
    const { session, owner } = moved
    const rooms = new Set(session.rooms)
    const frames: string[] = []
    for (const push of captured) {
      // The old node's own pushes up to its last message were delivered there before the snapshot.
      if (push.origin === owner && push.seq !== 0 && push.seq <= session.ownSeq) continue
      if (push.rooms === undefined ? push.client === session.id : push.client !== session.id && reaches(push.rooms, rooms)) frames.push(push.frame)
    }
    return frames
  }

  // ---- the node the session was on (A) ---------------------------------------------------------

  private async give(to: string, claim: string, token: string, seen: number, user: User | undefined): Promise<void> {
    const session = this.host.surrender(token, seen, user)
    if (session === undefined) return this.send(to, { t: 'refused', claim })
    // Let requests still running finish, so their replies go along for retries (bounded: a stuck one is answered TIMEOUT there).
    const deadline = Date.now() + SETTLE_MS
    while (session.running > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    const timer = setTimeout(() => {
      this.giving.delete(claim)
      this.host.abandoned(session)
    }, CLAIM_TIMEOUT_MS)
    timer.unref()
    this.giving.set(claim, { session, seen, timer })
    this.send(to, { t: 'ready', claim, rooms: [...session.connection.rooms] })
  }

  /** The claiming node's mark came by: everything before it reached the session here, nothing after will. */
  private marked(to: string, claim: string): void {
    const giving = this.giving.get(claim)
    if (giving === undefined) return
    this.giving.delete(claim)
    clearTimeout(giving.timer)
    const { session, seen } = giving
    if (!session.canReplay(seen)) {
      // Pushes kept coming while its requests settled, past what the log holds: it cannot move whole.
      this.send(to, { t: 'refused', claim })
      this.host.abandoned(session)
      return
    }
    let snapshot: MovedSession
    try {
      const { answered, running } = session.exportReplies()
      const missed = session.missed(seen).map(frameText)
      snapshot = {
        id: session.id, user: session.connection.user, state: JSON.parse(JSON.stringify(session.state)) as ClientState,
        rooms: [...session.connection.rooms], absent: session.absent, epoch: session.epoch,
        pushes: seen + missed.length, missed, answered, running, ownSeq: this.bus.flush(),
      }
    } catch (err) {
      // A client state that is not JSON cannot travel: the client starts afresh there, and ends here.
      this.host.log.warn({ err, client: session.id }, 'resume: a session could not move to another node')
      this.send(to, { t: 'refused', claim })
      this.host.abandoned(session)
      return
    }
    // Out of its rooms and presence before the snapshot leaves, so its new node lists it alone.
    this.host.movedAway(session)
    this.send(to, { t: 'moved', claim, session: snapshot })
  }

  // ---- the node the client resumed on (B) ------------------------------------------------------

  private answered(from: string, message: Exclude<Message, { t: 'claim' } | { t: 'mark' }>): void {
    const asking = this.asking.get(message.claim)
    if (asking === undefined || asking.owner !== from) return
    if (message.t === 'refused') return asking.settle(undefined)
    if (message.t === 'ready') return void this.ready(message.claim, asking, message.rooms)
    const capture = asking.capture
    if (capture === undefined || !sameUser(message.session.user, asking.user)) return asking.settle(undefined)
    asking.settle({ owner: from, session: message.session, capture })
  }

  private async ready(claim: string, asking: Asking, rooms: string[]): Promise<void> {
    // Its rooms' pushes must reach this node before the mark, or some could pass between the two nodes unheard.
    if (!(await this.bus.listen(rooms, SETTLE_MS))) return asking.settle(undefined)
    if (this.asking.get(claim) !== asking) return
    asking.capture = this.bus.mark(asking.owner, JSON.stringify({ t: 'mark', claim }))
  }

  private send(to: string, message: Message): void {
    this.bus.send(to, JSON.stringify(message))
  }
}

function reaches(target: string | readonly string[], rooms: ReadonlySet<string>): boolean {
  if (typeof target === 'string') return target === EVERYONE || rooms.has(target)
  for (const room of target) if (room === EVERYONE || rooms.has(room)) return true
  return false
}
