import type { Logger } from 'pino'
import { EVERYONE, type AdapterHost } from './adapters/adapter'
import type { Connection } from './connection'
import type { ContextHost, PreparedPush, PublishOptions } from './context'
import type { Core } from './core'
import { encodeFrame, type Outgoing } from './frames'
import { encodePush } from './protocol'
import type { Client, GlobalState, PresenceEntry, User } from './types'

/**
 * How a push may be skipped for a member that is behind on reading: `true` drops it, a string is a
 * coalescing key (the latest skipped frame per key is sent once the member catches up).
 */
export type DropPolicy = true | string

/** The rooms of a client in none: one empty set shared by all of them. */
export const NO_ROOMS: ReadonlySet<string> = new Set()

/** A local member of rooms: anything with an id, a user, and a way to take an encoded frame. */
export interface Member {
  readonly id: string
  user: User | undefined
  /** Delivers one frame (the same text or encoded frame is shared by every recipient), skippable per `drop`. */
  deliver(frame: Outgoing, drop?: DropPolicy): void
}

/**
 * Who is in which room on this node. Delivery to a room encodes nothing: it hands the one
 * frame it is given to every member.
 */
export class Rooms {
  private readonly rooms = new Map<string, Map<string, Member>>()
  /** Members still in their rooms for pushes but no longer listed in presence (parked past their grace). */
  private readonly away = new Set<string>()

  /** Adds a member to a room; false if it was already there. */
  join(room: string, member: Member): boolean {
    let members = this.rooms.get(room)
    if (members === undefined) {
      members = new Map()
      this.rooms.set(room, members)
    }
    if (members.has(member.id)) return false
    members.set(member.id, member)
    return true
  }

  /** Removes a member from a room; false if it was not there. Empty rooms are dropped. */
  leave(room: string, memberId: string): boolean {
    const members = this.rooms.get(room)
    if (members === undefined || !members.delete(memberId)) return false
    if (members.size === 0) this.rooms.delete(room)
    return true
  }

  /** The members of a room on this node, those away from presence left out. */
  members(room: string): PresenceEntry[] {
    const members = this.rooms.get(room)
    if (members === undefined) return []
    const out: PresenceEntry[] = []
    const away = this.away.size > 0
    for (const m of members.values()) if (!away || !this.away.has(m.id)) out.push({ id: m.id, user: m.user })
    return out
  }

  /** Stops listing a member in presence, though pushes to its rooms still reach it; false if it was away already. */
  hide(memberId: string): boolean {
    if (this.away.has(memberId)) return false
    this.away.add(memberId)
    return true
  }

  /** Lists a member in presence again; false if it was not away. */
  show(memberId: string): boolean {
    return this.away.delete(memberId)
  }

  /** Whether a member is away from presence. */
  isAway(memberId: string): boolean {
    return this.away.size > 0 && this.away.has(memberId)
  }

  /** The names of the rooms that have members on this node. */
  names(): IterableIterator<string> {
    return this.rooms.keys()
  }

  /**
   * Delivers one frame to every member of the rooms, each member once, except `except`.
   * Returns how many members it reached.
   */
  deliver(rooms: string | readonly string[], frame: string, except: string | undefined, drop?: DropPolicy): number {
    if (typeof rooms === 'string') {
      const members = this.rooms.get(rooms)
      if (members === undefined) return 0
      return deliverAll(members.values(), members.size, frame, except, drop)
    }
    const seen = new Map<string, Member>()
    for (const room of rooms) {
      const members = this.rooms.get(room)
      if (members !== undefined) for (const m of members.values()) seen.set(m.id, m)
    }
    return deliverAll(seen.values(), seen.size, frame, except, drop)
  }
}

function deliverAll(members: Iterable<Member>, count: number, frame: string, except: string | undefined, drop: DropPolicy | undefined): number {
  // Many recipients share one encoded frame: the push is framed once, not per socket (the sender,
  // when excluded, is not a recipient: a room of two frames it as a reply would be).
  const recipients = except === undefined ? count : count - 1
  const bytes: Outgoing = recipients > 1 ? encodeFrame(frame) : frame
  let reached = 0
  for (const m of members) {
    if (m.id === except) continue
    m.deliver(bytes, drop)
    reached++
  }
  return reached
}

/**
 * Rooms and pushes of one app: joining and leaving (told to the adapter, `presence:*` pushes and
 * events), pushes encoded once and delivered here and through the adapter. It is the host contexts
 * (ContextHost) and the adapter (AdapterHost) talk to.
 */
export class FanOut implements ContextHost, AdapterHost {
  readonly nodeId: string
  readonly log: Logger
  readonly global: GlobalState

  constructor(
    private readonly core: Core,
    /** Push `presence:join` / `presence:leave` to a room's other members. */
    private readonly presenceEvents: boolean,
  ) {
    this.nodeId = core.nodeId
    this.log = core.log
    this.global = core.global
  }

  /** Puts a client in a room on this node and tells the adapter. */
  join(client: Client, room: string): void {
    const connection = this.core.connectionOf(client.id)
    if (connection === undefined || !this.core.rooms.join(room, connection)) return
    connection.enter(room)
    // A session away from presence (parked past its grace) joins quietly: it is listed when it resumes.
    if (!this.core.rooms.isAway(client.id)) this.joined(client, room)
  }

  /** Takes a client out of a room on this node and tells the adapter. */
  leave(client: Client, room: string): void {
    const connection = this.core.connectionOf(client.id)
    if (!this.core.rooms.leave(room, client.id)) return
    connection?.exit(room)
    // A session away from presence left it already, when its grace ran out.
    if (!this.core.rooms.isAway(client.id)) this.left(client, room)
  }

  /** A parked session's presence grace ran out: it leaves presence in each of its rooms, still getting their pushes. */
  absent(connection: Connection): void {
    if (!this.core.rooms.hide(connection.id)) return
    for (const room of connection.rooms) this.left(connection, room)
  }

  /** A session away from presence resumed: it is listed in its rooms again. */
  present(connection: Connection): void {
    if (!this.core.rooms.show(connection.id)) return
    for (const room of connection.rooms) this.joined(connection, room)
  }

  /**
   * A session that moved here from another node takes a room: listed in presence here, with
   * `presence:join` and `join` only if it had left presence there (others saw it leave).
   */
  adopt(connection: Connection, room: string, absent: boolean): void {
    if (!this.core.rooms.join(room, connection)) return
    connection.enter(room)
    if (absent) return this.joined(connection, room)
    this.listed(connection, room)
  }

  /** A session moved to another node: it leaves its rooms here and presence, without `presence:leave` or `leave` (it is still there). */
  moveAway(connection: Connection): void {
    const away = this.core.rooms.isAway(connection.id)
    for (const room of [...connection.rooms]) {
      this.core.rooms.leave(room, connection.id)
      connection.exit(room)
      if (!away) this.unlisted(connection, room)
    }
    this.core.rooms.show(connection.id)
  }

  /** A session handoff message from another node (AdapterHost): for the resume layer. */
  handoff(from: string, body: string): void {
    this.core.resume.handoffReceived(from, body)
  }

  /** Members of a room across every node the adapter reaches. */
  presence(room: string): Promise<PresenceEntry[]> {
    return this.core.adapter.members(room)
  }

  /** A client is listed in a room: the adapter, `presence:join` and the `join` event hear of it. */
  private joined(client: Client, room: string): void {
    this.listed(client, room)
    if (this.presenceEvents) this.publish(room, 'presence:join', { room, client: client.id, user: client.user }, client.id)
    this.core.events.emit('join', client, room)
  }

  /** A client is no longer listed in a room: the adapter, `presence:leave` and the `leave` event hear of it. */
  private left(client: Client, room: string): void {
    this.unlisted(client, room)
    if (this.presenceEvents) this.publish(room, 'presence:leave', { room, client: client.id, user: client.user }, client.id)
    this.core.events.emit('leave', client, room)
  }

  /** The adapter lists a client in a room's presence; its failure is logged, never thrown. */
  private listed(client: Client, room: string): void {
    try {
      this.core.adapter.join(room, { id: client.id, user: client.user })
    } catch (err) {
      this.core.fault(err, undefined, 'adapter join failed')
    }
  }

  /** The adapter takes a client out of a room's presence; its failure is logged, never thrown (this runs from socket close events). */
  private unlisted(client: Client, room: string): void {
    try {
      this.core.adapter.leave(room, client.id)
    } catch (err) {
      this.core.fault(err, undefined, 'adapter leave failed')
    }
  }

  /**
   * Encodes a push once and delivers it to the rooms here and, through the adapter, on other nodes
   * (EVERYONE: every client). `options` may mark it droppable and carry the causing request's trace context.
   */
  publish(rooms: string | readonly string[], name: string, payload: object | undefined, except: string | undefined, options?: PublishOptions): void {
    this.sendPush(rooms, name, encodePush(name, payload, this.core.codec, options?.traceparent), except, options)
  }

  /**
   * Encodes a push for a store to publish with a write: the adapter's ordered push when it has a
   * shared channel (Redis), else one that `published()` sends the usual way.
   */
  prepare(
    rooms: string | readonly string[], name: string, payload: object | undefined, except: string | undefined,
    after: (() => void) | undefined, options?: PublishOptions,
  ): PreparedPush {
    const frame = encodePush(name, payload, this.core.codec, options?.traceparent)
    const ordered = this.core.adapter.prepare?.(rooms, frame, except, after)
    if (ordered !== undefined) return ordered
    return {
      publication: undefined,
      published: async () => {
        this.sendPush(rooms, name, frame, except, options)
        after?.()
      },
    }
  }

  /** Pushes to one client by id, on this node or (through the adapter) on another; dropped if it is connected nowhere. */
  sendTo(clientId: string, name: string, payload: object | undefined): void {
    const frame = encodePush(name, payload, this.core.codec)
    if (!this.deliverToClient(clientId, frame)) this.core.adapter.sendTo(clientId, frame)
  }

  /** Delivers a push to the rooms' members on this node (every client for EVERYONE); returns how many it reached. */
  private deliverHere(rooms: string | readonly string[], frame: string, except: string | undefined, drop: DropPolicy | undefined): number {
    if (rooms !== EVERYONE) return this.core.rooms.deliver(rooms, frame, except, drop)
    let reached = 0
    for (const connection of this.core.clients.values()) {
      if (connection.id === except) continue
      connection.deliver(frame, drop)
      reached++
    }
    return reached
  }

  private sendPush(rooms: string | readonly string[], name: string, frame: string, except: string | undefined, options: PublishOptions | undefined): void {
    const reached = this.deliverHere(rooms, frame, except, options?.coalesce ?? (options?.droppable === true || undefined))
    if (this.core.metrics !== undefined) this.core.metrics.pushed(name, reached)
    try {
      this.core.adapter.publish(rooms, frame, except)
    } catch (err) {
      this.core.fault(err, undefined, 'adapter publish failed')
    }
  }

  /** Delivers a push that came from another node to the rooms' members here (AdapterHost). */
  deliverLocal(rooms: string | readonly string[], frame: string, except: string | undefined): void {
    this.deliverHere(rooms, frame, except, undefined)
  }

  /** Delivers a push to one client connected (or parked) here; false if it is not here. */
  deliverToClient(clientId: string, frame: string): boolean {
    const connection = this.core.connectionOf(clientId)
    if (connection === undefined) return false
    connection.deliver(frame)
    return true
  }

  /** Members of a room on this node, those away from presence left out (AdapterHost). */
  localMembers(room: string): PresenceEntry[] {
    return this.core.rooms.members(room)
  }

  /** The rooms that have members on this node (AdapterHost). */
  localRooms(): Iterable<string> {
    return this.core.rooms.names()
  }

  /** A member on another node is gone without leaving (its node died): `presence:leave` and the `lost` event (AdapterHost). */
  memberLeft(room: string, entry: PresenceEntry): void {
    if (this.presenceEvents) this.publish(room, 'presence:leave', { room, client: entry.id, user: entry.user }, undefined)
    this.core.events.emit('lost', room, entry)
  }
}
