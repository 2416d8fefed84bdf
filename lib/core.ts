import type { Logger } from 'pino'
import type { Adapter } from './adapters/adapter'
import type { Connection } from './connection'
import type { Context } from './context'
import { logSafely, type Events } from './events'
import type { Metrics } from './metrics'
import type { Codec } from './protocol'
import { noResume, type ResumeLayer } from './resume'
import { Rooms } from './rooms'
import type { GlobalState } from './types'

/**
 * What the parts of one app share: its log, events, codec, adapter, metrics, clients, rooms and
 * sessions. TalkApp makes one and hands it to the parts it is made of (the fan-out, the
 * connections, the upgrades, draining); the app's users never see it.
 */
export class Core {
  /** App-wide state shared by every client of this node (`ctx.global`). */
  readonly global: GlobalState = {}
  /** Connected clients by id. */
  readonly clients = new Map<string, Connection>()
  /** Rooms and their members on this node. */
  readonly rooms = new Rooms()
  /** Resume as one layer: `Sessions` once made (they need the connections part), a no-op when resume is off. */
  resume: ResumeLayer

  constructor(
    /** This node's id among nodes that share an adapter. */
    readonly nodeId: string,
    readonly log: Logger,
    readonly events: Events,
    readonly codec: Codec,
    readonly adapter: Adapter,
    readonly metrics: Metrics | undefined,
  ) {
    this.resume = noResume(codec)
  }

  /** The connection of a client on this node: connected, or parked awaiting its resume. */
  connectionOf(clientId: string): Connection | undefined {
    return this.clients.get(clientId) ?? this.resume.parkedConnection(clientId)
  }

  /** Logs an error no client is told of (an adapter's, a hook's, a handler's), and emits `error`. */
  fault(err: unknown, ctx: Context | undefined, message: string): void {
    logSafely(ctx?.log ?? this.log, 'error', err, message)
    this.events.emit('error', err, ctx)
  }
}
