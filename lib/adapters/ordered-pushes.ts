import type { Publication } from '../store/store'
import type { OrderedPush } from './adapter'

/** How long a writer waits for its own ordered push to come back off the channel before it is delivered directly, in ms. */
export const ORDERED_WAIT_MS = 2000

/** How long a push nobody waits for is remembered, in ms: a write attempt that lost its race, or a late copy to drop. */
const KEEP_MS = 30_000

/** Delivers an encoded push to this node's members of the rooms, except one client. */
type Deliver = (rooms: string | readonly string[], frame: string, except: string | undefined) => void

interface Entry {
  readonly rooms: string | readonly string[]
  readonly frame: string
  readonly except: string | undefined
  readonly after: (() => void) | undefined
  readonly created: number
  /** The subscription's epoch when it was prepared; -1 when there was no subscription then. */
  readonly epoch: number
  /** The channel its message goes on, and that channel's subscription generation when it was prepared. */
  readonly channel: string
  readonly generation: number
  state: 'prepared' | 'delivered' | 'direct'
  /** What `after` threw, for the writer's `published()`. */
  failed?: { error: unknown }
  waiter?: { resolve: () => void; reject: (err: unknown) => void; timer: NodeJS.Timeout }
}

/**
 * One node's side of ordered pushes (pushes a store publishes with its writes, see
 * `Adapter.prepare`): every node, this one too, delivers them as they come off the channel, and the
 * writer's `after` (its reply) runs right when its own push is delivered here, so before any push
 * behind it, even when the copy comes back before the store's reply does. A copy that cannot come
 * back (the subscription dropped) is delivered directly, once.
 */
export class OrderedPushes {
  private seq = 0
  private epoch = 0
  private listening = false
  private readonly entries = new Map<number, Entry>()
  /** Pushes delivered directly because their copy did not come back. */
  lost = 0

  constructor(
    private readonly deliver: Deliver,
    /**
     * The generation of this node's subscription to a channel, a number that changes whenever it is
     * subscribed again and is negative while it is not (default: one channel, always the same).
     */
    private readonly generation: (channel: string) => number = () => 0,
  ) {}

  /** Prepares a push; `publication` makes the message that carries it, from its id. */
  prepare(
    rooms: string | readonly string[], frame: string, except: string | undefined, after: (() => void) | undefined,
    publication: (id: number) => Publication,
  ): OrderedPush {
    this.forgetOld()
    const id = ++this.seq
    const message = publication(id)
    const epoch = this.listening ? this.epoch : -1
    const generation = this.generation(message.channel)
    this.entries.set(id, { rooms, frame, except, after, created: Date.now(), epoch, channel: message.channel, generation, state: 'prepared' })
    return { publication: message, published: () => this.published(id) }
  }

  /**
   * Prepares a push this node does not listen for (it has no member in the push's room, so no
   * subscription to its channel): `published()` only runs `after`. Its message has id 0, so a copy
   * that comes back all the same (a member joined meanwhile) is delivered as any other node's.
   */
  unheard(after: (() => void) | undefined, publication: (id: number) => Publication): OrderedPush {
    return {
      publication: publication(0),
      published: async () => {
        after?.()
      },
    }
  }

  /** This node's own push `id` came off the channel. */
  arrived(id: number, rooms: string | readonly string[], frame: string, except: string | undefined): void {
    const entry = this.entries.get(id)
    if (entry === undefined) {
      // Forgotten long ago: still a write that happened, so its push is delivered.
      this.deliver(rooms, frame, except)
      return
    }
    if (entry.state !== 'prepared') {
      // Delivered directly already: this late copy would be a duplicate.
      this.entries.delete(id)
      return
    }
    entry.state = 'delivered'
    this.deliver(rooms, frame, except)
    this.runAfter(entry)
    if (entry.waiter !== undefined) this.settle(id, entry)
  }

  /** The subscription is up: what is published from now on comes back. */
  subscribed(): void {
    this.listening = true
  }

  /**
   * The subscription dropped (or, given a channel, that channel's): what was published meanwhile
   * never comes back, so waiting writers get theirs directly.
   */
  unsubscribed(channel?: string): void {
    if (channel === undefined) {
      this.listening = false
      this.epoch++
    }
    for (const [id, entry] of this.entries) {
      if (entry.waiter !== undefined && (channel === undefined || entry.channel === channel)) this.direct(id, entry)
    }
  }

  private published(id: number): Promise<void> {
    const entry = this.entries.get(id)
    if (entry === undefined || entry.state === 'direct') return Promise.resolve()
    if (entry.state === 'delivered') {
      this.entries.delete(id)
      return entry.failed === undefined ? Promise.resolve() : Promise.reject(entry.failed.error)
    }
    // Published while not subscribed, or the subscription dropped since: its copy may never come.
    if (entry.epoch !== this.epoch || !this.listening || entry.generation < 0 || entry.generation !== this.generation(entry.channel)) {
      this.direct(id, entry)
      return entry.failed === undefined ? Promise.resolve() : Promise.reject(entry.failed.error)
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.direct(id, entry), ORDERED_WAIT_MS)
      entry.waiter = { resolve, reject, timer }
    })
  }

  /** Delivers a push here directly, its copy being lost (or late: then it is dropped when it comes). */
  private direct(id: number, entry: Entry): void {
    this.lost++
    entry.state = 'direct'
    this.deliver(entry.rooms, entry.frame, entry.except)
    this.runAfter(entry)
    this.settle(id, entry)
  }

  private runAfter(entry: Entry): void {
    try {
      entry.after?.()
    } catch (error) {
      entry.failed = { error }
    }
  }

  /** Answers the writer waiting for `entry`, if any; a directly delivered entry stays, to drop a late copy. */
  private settle(id: number, entry: Entry): void {
    const waiter = entry.waiter
    if (entry.state === 'delivered') this.entries.delete(id)
    if (waiter === undefined) return
    entry.waiter = undefined
    clearTimeout(waiter.timer)
    if (entry.failed === undefined) waiter.resolve()
    else waiter.reject(entry.failed.error)
  }

  /** Drops entries nobody waits for any more (oldest first: the map keeps the order they were made in). */
  private forgetOld(): void {
    const before = Date.now() - KEEP_MS
    for (const [id, entry] of this.entries) {
      if (entry.created > before) return
      if (entry.waiter === undefined) this.entries.delete(id)
    }
  }
}
