import type { Session } from './session'

/**
 * Where parked sessions wait for their client, keyed by resume token, oldest first: in this node's
 * memory, since a session holds its connection and timers (docs/scaling.md says what resume across
 * nodes would need). Bounds and timers stay with `Sessions`: this only keeps and finds.
 */
export class Parking {
  private readonly parked = new Map<string, Session>()
  /** The same sessions by client id, for joins and pushes from handlers still running. */
  private readonly byId = new Map<string, Session>()

  /** Keeps a parked session under its token and its client id. */
  park(session: Session): void {
    this.parked.set(session.token, session)
    this.byId.set(session.id, session)
  }

  /** Removes and returns the session parked under a token, if any. */
  claim(token: string): Session | undefined {
    const session = this.parked.get(token)
    if (session !== undefined) this.remove(session)
    return session
  }

  /** The session parked for a client id, if any. */
  find(id: string): Session | undefined {
    return this.byId.get(id)
  }

  /** Forgets a session (resumed, expired, evicted). */
  remove(session: Session): void {
    if (this.parked.get(session.token) === session) this.parked.delete(session.token)
    if (this.byId.get(session.id) === session) this.byId.delete(session.id)
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
