/**
 * The names of the Redis adapter's keys and channels under a prefix `p` (docs/scaling.md, "What
 * goes where in Redis"): the channel `p bus`, one channel `p push:<room>` per room with room
 * channels on, `p nodes`, `p lease:<node>`, `p room:<room>` and `p held:<node>`.
 */
export class RedisNames {
  /** The channel every node subscribes to: every push, or with room channels those for several rooms, everyone or one client. */
  readonly bus: string
  /** The set of live node ids. */
  readonly nodes: string
  private readonly roomChannelPrefix: string

  constructor(
    /** Prefix of every key and channel. */
    readonly prefix: string,
  ) {
    this.bus = `${prefix}bus`
    this.nodes = `${prefix}nodes`
    this.roomChannelPrefix = `${prefix}push:`
  }

  /** The channel of one room's pushes (with room channels on). */
  roomChannel(room: string): string {
    return this.roomChannelPrefix + room
  }

  /** The presence hash of a room: `<node>|<client>` → user JSON. */
  roomKey(room: string): string {
    return `${this.prefix}room:${room}`
  }

  /** What a node holds in presence, so a survivor can clean up after it. */
  heldKey(node: string): string {
    return `${this.prefix}held:${node}`
  }

  /** The key that exists (with a TTL) while a node lives. */
  leaseKey(node: string): string {
    return `${this.prefix}lease:${node}`
  }
}
