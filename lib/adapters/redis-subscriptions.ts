import type { Redis } from 'ioredis'
import type { AdapterHost } from './adapter'
import type { TroubleLog } from './redis-connection'
import type { RedisNames } from './redis-names'

/**
 * How long a room's channel stays subscribed after a local member left it, in ms: a room that
 * empties and fills again (a page reload) costs no UNSUBSCRIBE/SUBSCRIBE pair.
 */
export const ROOM_CHANNEL_LINGER_MS = 1000

/** Not subscribed (yet, or any more): the generation of a channel without a live subscription. */
export const NOT_LIVE = -1

interface ChannelState {
  /** A number that changes with every new subscription of the channel; NOT_LIVE until it is confirmed. */
  generation: number
  /** The last SUBSCRIBE sent for it: only its confirmation makes the channel live. */
  ticket: number
  /** When a local member last left its room (Date.now()): it lingers a while after. */
  releasedAt?: number
}

/**
 * The channels this node's subscription connection listens to: the bus always, and with room
 * channels one channel per room that has members here, subscribed when its first local member
 * joins and unsubscribed a little after the last one left (checked against the host's rooms, so
 * members parked for resume keep theirs). After a reconnect every channel is subscribed again.
 */
export class Subscriptions {
  private readonly channels = new Map<string, ChannelState>()
  private generations = 0
  private tickets = 0
  private sweepTimer: NodeJS.Timeout | undefined

  constructor(
    private readonly sub: Redis,
    private readonly host: AdapterHost,
    private readonly names: RedisNames,
    private readonly roomChannels: boolean,
    private readonly trouble: TroubleLog,
    /** A channel's subscription ended (undefined: all of them, the connection dropped). */
    private readonly lost: (channel: string | undefined) => void,
    /** The bus is subscribed: pushes flow again. */
    private readonly live: () => void,
  ) {
    this.channels.set(names.bus, { generation: NOT_LIVE, ticket: 0 })
  }

  /** Whether pushes on the bus reach this node now. */
  get busLive(): boolean {
    return this.generation(this.names.bus) !== NOT_LIVE
  }

  /** The current subscription's generation of a channel, NOT_LIVE when not subscribed. */
  generation(channel: string): number {
    return this.channels.get(channel)?.generation ?? NOT_LIVE
  }

  /** Whether this node wants a channel's messages (subscribed or about to be). */
  wants(channel: string): boolean {
    return this.channels.has(channel)
  }

  /** The connection is ready: subscribes every channel wanted now; resolves once Redis confirmed (or refused). */
  connected(): Promise<void> {
    if (this.roomChannels) for (const room of this.host.localRooms()) this.want(this.names.roomChannel(room))
    return this.subscribe([...this.channels.keys()])
  }

  /** The connection dropped: nothing is subscribed until `connected()`. */
  disconnected(): void {
    for (const state of this.channels.values()) state.generation = NOT_LIVE
    this.lost(undefined)
  }

  /** A local member joined a room: its channel is subscribed if it was not. */
  watch(room: string): void {
    if (!this.roomChannels) return
    const channel = this.names.roomChannel(room)
    const state = this.channels.get(channel)
    if (state !== undefined) {
      state.releasedAt = undefined
      return
    }
    this.want(channel)
    if (this.sub.status === 'ready') void this.subscribe([channel])
  }

  /**
   * Subscribes a room's channel for a member about to join (a session moving here): it lingers as
   * if just left, so it stays if the member joins. Returns the channel, undefined without room channels.
   */
  hold(room: string): string | undefined {
    if (!this.roomChannels) return undefined
    this.watch(room)
    this.release(room)
    return this.names.roomChannel(room)
  }

  /** A local member left a room: its channel is dropped a little later if the room has no member here by then. */
  release(room: string): void {
    if (!this.roomChannels) return
    const state = this.channels.get(this.names.roomChannel(room))
    if (state === undefined) return
    state.releasedAt = Date.now()
    this.sweepLater()
  }

  /**
   * Makes the room channels match the rooms with members here: subscribes the missing (a member
   * that joined without the adapter hearing of it: a session parked for resume) and drops the rest,
   * but those whose room was left less than ROOM_CHANNEL_LINGER_MS ago (they are looked at again then).
   */
  reconcile(): void {
    if (!this.roomChannels || this.sub.status !== 'ready') return
    const wanted = new Set<string>([this.names.bus])
    for (const room of this.host.localRooms()) wanted.add(this.names.roomChannel(room))
    const gone: string[] = []
    const recently = Date.now() - ROOM_CHANNEL_LINGER_MS
    let lingering = false
    for (const [channel, state] of this.channels) {
      if (wanted.has(channel)) continue
      if (state.releasedAt !== undefined && state.releasedAt > recently) lingering = true
      else gone.push(channel)
    }
    if (lingering) this.sweepLater()
    const missing: string[] = []
    for (const channel of wanted) if (!this.channels.has(channel)) missing.push(this.want(channel))
    if (missing.length > 0) void this.subscribe(missing)
    if (gone.length === 0) return
    for (const channel of gone) this.channels.delete(channel)
    this.sub.unsubscribe(...gone).catch((err: unknown) => this.trouble.report('subscribe', err, 'could not unsubscribe from room channels'))
    for (const channel of gone) this.lost(channel)
  }

  /** Stops the delayed sweep (the adapter is stopping). */
  stop(): void {
    clearTimeout(this.sweepTimer)
    this.sweepTimer = undefined
  }

  private sweepLater(): void {
    if (this.sweepTimer !== undefined) return
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = undefined
      this.reconcile()
    }, ROOM_CHANNEL_LINGER_MS)
    this.sweepTimer.unref()
  }

  private want(channel: string): string {
    if (!this.channels.has(channel)) this.channels.set(channel, { generation: NOT_LIVE, ticket: 0 })
    return channel
  }

  private subscribe(channels: string[]): Promise<void> {
    const ticket = ++this.tickets
    for (const channel of channels) {
      const state = this.channels.get(channel)
      if (state !== undefined) state.ticket = ticket
    }
    return this.sub.subscribe(...channels).then(
      () => {
        for (const channel of channels) {
          const state = this.channels.get(channel)
          // Dropped meanwhile, or subscribed again since: that later SUBSCRIBE's confirmation counts.
          if (state !== undefined && state.ticket === ticket) state.generation = ++this.generations
        }
        if (channels.includes(this.names.bus)) this.live()
      },
      (err: unknown) => this.trouble.report('subscribe', err, 'could not subscribe to the push channels'),
    )
  }
}
