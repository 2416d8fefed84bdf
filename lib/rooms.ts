import { encodeFrame, type Outgoing } from './frames'
import type { PresenceEntry, User } from './types'

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
