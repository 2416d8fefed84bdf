import type { Logger } from 'pino'
import type { Publication } from '../store/store'
import type { PresenceEntry } from '../types'

/**
 * The rooms of a push to every client on every node (`app.broadcast()`): a name no app room can
 * take, as route names and rooms under `talk/` are Talk's own.
 */
export const EVERYONE = 'talk/everyone'

/** What an adapter may ask of the node it serves. */
export interface AdapterHost {
  /** This node's id, unique among the nodes sharing an adapter. */
  readonly nodeId: string
  readonly log: Logger
  /** Delivers an encoded push to local members of the rooms, each once, except one client. */
  deliverLocal(rooms: string | readonly string[], frame: string, except: string | undefined): void
  /** Delivers an encoded push to one local client; false if it is not connected here. */
  deliverToClient(clientId: string, frame: string): boolean
  /** Members of a room on this node. */
  localMembers(room: string): PresenceEntry[]
  /** The rooms that have members on this node. */
  localRooms(): Iterable<string>
  /** A member of a room on another node is gone without leaving (its node died): the host may push `presence:leave`. */
  memberLeft(room: string, entry: PresenceEntry): void
  /** A session handoff message (see `HandoffBus`) from node `from` for this node, in the shared channel's order. */
  handoff?(from: string, body: string): void
}

/** A push a node heard while a `PushCapture` was recording: where it came from and where it goes. */
export interface CapturedPush {
  /** The node that sent it. */
  readonly origin: string
  /** The number of its message on that node, 0 when it had none (an ordered push). */
  readonly seq: number
  /** The rooms it goes to, or undefined for a push to one client. */
  readonly rooms: string | readonly string[] | undefined
  /** The client it goes to (a push to one client), or the client it skips (a push to rooms). */
  readonly client: string | undefined
  readonly frame: string
}

/** Records the pushes a node hears, in the order it hears them, from a point in the shared channel's order. */
export interface PushCapture {
  /**
   * Stops recording; returns what was recorded, or undefined when the record has a hole (it never
   * started, the subscription dropped, or it outgrew its bound). This node's own pushes sent before
   * the call that it has not heard back yet are at the end, in the order it sent them.
   */
  stop(): CapturedPush[] | undefined
}

/**
 * Carries resumable sessions between nodes (resume on any node, lib/resume/handoff.ts): messages
 * in the shared channel's order, and a record of the pushes heard from a marked point of it on.
 */
export interface HandoffBus {
  /** Turns handoffs on (the app keeps sessions): from now on this node numbers the messages it publishes. */
  enable(): void
  /** Sends a handoff message to node `to`, after everything this node published before. */
  send(to: string, body: string): void
  /** Sends a handoff message to node `to` and records every push this node hears after it (its own included). */
  mark(to: string, body: string): PushCapture
  /** Resolves once this node hears the rooms' pushes (with room channels: their channels subscribed), false after `timeoutMs`. */
  listen(rooms: readonly string[], timeoutMs: number): Promise<boolean>
  /** Publishes what waits to be, then returns the number of this node's last message (the `seq` of `CapturedPush`). */
  flush(): number
}

/**
 * A push that a store publishes with a write (see `Adapter.prepare`): the message for the store,
 * and the wait for this node's own copy.
 */
export interface OrderedPush {
  /** What the store publishes in the same atomic step as its write. */
  readonly publication: Publication
  /**
   * Call once the store wrote (and so published): resolves once this node delivered the push off
   * the channel and ran its `after`. When its copy cannot come back (the subscription dropped
   * meanwhile, or it took over 2 s), the push is delivered here directly, once, and `after` runs
   * then. Rejects with what `after` threw.
   */
  published(): Promise<void>
}

/**
 * The seam for many nodes. The node always delivers locally itself; an adapter carries pushes
 * and presence to and from the other nodes. Methods that return void must not throw: trouble
 * reaching other nodes is logged and counted by the adapter, never surfaced to a handler.
 */
export interface Adapter {
  /** Starts the adapter for a node; resolves when it can carry messages. */
  start(host: AdapterHost): Promise<void>
  /** Carries an encoded push for rooms to the other nodes. */
  publish(rooms: string | readonly string[], frame: string, except: string | undefined): void
  /**
   * Wraps a push to rooms for a store to publish with a write (Redis: PUBLISH inside the
   * compare-and-set), so pushes come off the channel in the order of the writes and every node,
   * this one too, delivers them in that order. `after` (the writer's reply) runs right after this
   * node delivered the push, before any push behind it, even when that is before the store's write
   * resolves. Optional: an adapter without a shared channel leaves it out, and such pushes go the
   * usual way (`publish`).
   */
  prepare?(rooms: string | readonly string[], frame: string, except: string | undefined, after?: () => void): OrderedPush
  /** Carries an encoded push to a client connected to another node. */
  sendTo(clientId: string, frame: string): void
  /** Records that a local client joined a room (for presence across nodes). */
  join(room: string, entry: PresenceEntry): void
  /** Records that a local client left a room. */
  leave(room: string, clientId: string): void
  /** Members of a room on every live node. */
  members(room: string): Promise<PresenceEntry[]>
  /** Stops carrying messages and releases connections. */
  stop(): Promise<void>
  /** Counters for logs and metrics (an adapter with nothing to count may leave it out). */
  stats?(): Readonly<Record<string, number>>
  /** Moves resumable sessions between nodes; absent when the adapter cannot (then resume stays on its node). */
  readonly handoff?: HandoffBus
}
