import type { WebSocket } from 'ws'
import { Connection } from './connection'
import type { ConnectionHost } from './connection-host'
import type { Core } from './core'
import type { Dispatcher } from './dispatch'
import { CLOSE, type TalkError } from './errors'
import type { PendingHandshake } from './handshake'
import type { Envelope } from './protocol'
import type { HandoffBus } from './adapters/adapter'
import type { Claim, SessionsHost } from './resume'
import type { FanOut, Rooms } from './rooms'
import type { JsonLimits } from './security/json-bounds'

/** The limits every connection of an app gets (resolved `talk()` options). */
export interface ConnectionLimits {
  readonly maxQueue: number
  readonly concurrency: number
  readonly maxBufferedBytes: number
  readonly maxReplyBytes: number
  readonly maxRequestsPerTurn: number
  readonly maxTurnMs: number
  readonly jsonLimits: JsonLimits
  readonly dropThreshold: number
}

/** The limits are the connections' own fields (copied in the constructor), as ConnectionHost reads them. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface Connections extends ConnectionLimits {}

/**
 * The connections of one app: opening them (the welcome, `connection` / `resume`), the heartbeat,
 * and what a connection and the resumable sessions ask of the app (ConnectionHost, SessionsHost):
 * its requests dispatched, its writes flushed at the end of the turn, its close.
 */
export class Connections implements ConnectionHost, SessionsHost {
  readonly log: Core['log']
  readonly codec: Core['codec']
  readonly rooms: Rooms
  readonly nodeId: string
  readonly handoffBus: HandoffBus | undefined
  /** True once the app is closing: upgrades are refused and new requests answered UNAVAILABLE. */
  draining = false

  private readonly corked: Connection[] = []
  private flushScheduled = false
  private heartbeat: NodeJS.Timeout | undefined

  constructor(
    private readonly core: Core,
    private readonly fanOut: FanOut,
    private readonly dispatcher: Dispatcher,
    private readonly generateId: () => string,
    limits: ConnectionLimits,
  ) {
    this.log = core.log
    this.nodeId = core.nodeId
    this.handoffBus = core.adapter.handoff
    this.codec = core.codec
    this.rooms = core.rooms
    Object.assign(this, limits)
  }

  /** Opens a connection on an upgraded socket: a new client, or a resumed session when `claim` holds one. */
  accept(ws: WebSocket, handshake: PendingHandshake, claim?: Claim): void {
    const { core } = this
    const resume = core.resume
    if (this.draining) {
      resume.release(claim)
      ws.close(CLOSE.GOING_AWAY, 'server is shutting down')
      return
    }
    const resumed = claim?.session ?? claim?.moved?.session
    const id = resumed?.id ?? this.generateId()
    const view = handshake.view()
    // The address is read on first use (a getpeername call); once the socket is gone it cannot be,
    // so it is read now when a parked session or a `disconnect` or `leave` listener may ask afterwards.
    if (resume.parks || core.events.has('disconnect') || core.events.has('leave')) view.keepAddress()
    const connection = new Connection(this, ws, id, view, handshake.user, resumed?.state ?? handshake.state)
    core.clients.set(connection.id, connection)
    // The upgrade's 101 answer is corked under this call: the welcome and what listeners send join it
    // in one write, flushed below, with no end-of-turn flush to schedule.
    connection.holdWrites()
    // The welcome (with a resume token when resume is on); a resumed session's missed pushes follow it.
    resume.open(connection, claim)
    // A resumed client never left: no second `connection` event, a `resume` one instead.
    const event = resumed === undefined ? 'connection' : 'resume'
    if (core.events.has(event)) core.events.emit(event, connection)
    core.metrics?.connected()
    connection.flush()
  }

  /** Pings every client each `interval` ms; one that did not answer the last ping is terminated. */
  startHeartbeat(interval: number): void {
    if (interval <= 0 || this.heartbeat !== undefined) return
    this.heartbeat = setInterval(() => this.beat(), interval)
    this.heartbeat.unref()
  }

  /** Stops the heartbeat. */
  stopHeartbeat(): void {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat)
  }

  private beat(): void {
    for (const connection of this.core.clients.values()) {
      if (!connection.alive) {
        connection.socket.terminate()
        continue
      }
      connection.alive = false
      connection.socket.ping()
    }
  }

  /** Runs one socket request through its route's chain. */
  dispatch(connection: Connection, envelope: Envelope): Promise<void> {
    return this.dispatcher.handle(connection, connection, envelope)
  }

  /** Ends a connection's turn (its corked writes flushed, its budget renewed) at the end of this event-loop turn. */
  flushLater(connection: Connection): void {
    this.corked.push(connection)
    if (this.flushScheduled) return
    this.flushScheduled = true
    setImmediate(this.flushAll)
  }

  private readonly flushAll = (): void => {
    this.flushScheduled = false
    const corked = this.corked.splice(0)
    for (const connection of corked) connection.endTurn()
  }

  /** A request was refused because its connection's queue was full: told to `overflow` listeners. */
  overflowed(connection: Connection, envelope: Envelope, err: TalkError): void {
    if (!this.core.events.has('overflow')) return
    this.core.events.emit('overflow', this.dispatcher.refused(connection, envelope, err))
  }

  /** Counts an error answered before any route ran: a bad frame, a full queue, draining. */
  frameError(code: string): void {
    this.core.metrics?.error(code)
  }

  /** Counts a droppable push skipped for a slow consumer. */
  pushDropped(coalesced: boolean): void {
    this.core.metrics?.droppedPush(coalesced)
  }

  /** A socket has closed: the client leaves, unless its session is parked or lives on in a newer connection. */
  closed(connection: Connection, code: number, reason: string): void {
    const { core } = this
    core.metrics?.disconnected(code)
    // A resumed session's newer connection has the same id: only a connection removes itself.
    if (core.clients.get(connection.id) === connection) core.clients.delete(connection.id)
    // With resume on, the session may be parked (still in its rooms) or live on in a newer connection.
    if (core.resume.closed(connection, code, reason)) return
    this.ended(connection, code, reason)
  }

  /** A client is gone for good: it leaves its rooms and `disconnect` is emitted (also when a parked session ends). */
  ended(connection: Connection, code: number, reason: string): void {
    const rooms = connection.rooms
    // Leaving changes the set: walk a copy, made only when there is a room to leave.
    if (rooms.size > 0) for (const room of [...rooms]) this.fanOut.leave(connection, room)
    this.core.rooms.show(connection.id)
    if (this.core.events.has('disconnect')) this.core.events.emit('disconnect', connection, code, reason)
  }

  /** A parked session's presence grace ran out. */
  absent(connection: Connection): void {
    this.fanOut.absent(connection)
  }

  /** A session away from presence resumed. */
  present(connection: Connection): void {
    this.fanOut.present(connection)
  }

  /** A session moved to another node: out of its rooms here, quietly. */
  movedAway(connection: Connection): void {
    this.fanOut.moveAway(connection)
  }

  /** A session moved here: into its rooms. */
  adopt(connection: Connection, rooms: readonly string[], absent: boolean): void {
    for (const room of rooms) this.fanOut.adopt(connection, room, absent)
  }
}
