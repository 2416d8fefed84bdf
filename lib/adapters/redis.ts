import type { Redis, RedisOptions } from 'ioredis'
import type { Logger } from 'pino'
import { EVERYONE, type Adapter, type AdapterHost, type OrderedPush } from './adapter'
import { OrderedPushes } from './ordered-pushes'
import { closeConnection, describeError, openConnection, TroubleLog, type ConnectionRole } from './redis-connection'
import { RedisHandoff } from './redis-handoff'
import { RedisNames } from './redis-names'
import { Outbox } from './redis-outbox'
import { RedisPresence } from './redis-presence'
import { NOT_LIVE, Subscriptions } from './redis-subscriptions'
import { decodeMessage, encodeOrdered, type MessageSink } from './redis-wire'
import type { PresenceEntry } from '../types'

/** Options of `redisAdapter()`. */
export interface RedisAdapterOptions {
  /** A `redis://` or `rediss://` URL; when absent, `redis` options (or ioredis' defaults, localhost:6379) are used. */
  url?: string
  /** ioredis options (host, port, password, tls, sentinels…); merged over the URL's. */
  redis?: RedisOptions
  /** Prefix of every key and channel, so several apps can share one Redis (default `talk:`). */
  prefix?: string
  /**
   * How long a crashed node's members may stay in presence, in ms (default 10000, at least 200).
   * The node's lease lives 3/4 of it and is renewed every 1/4, so a node whose event loop stalls
   * for more than half of it is taken for dead (it registers again once it runs).
   */
  leaseMs?: number
  /**
   * One channel per room (default false: one channel for every push). A node then subscribes only
   * to the channels of rooms it has members in, so it receives no push for any other room; pushes
   * to several rooms, to everyone and to one client stay on the shared channel. Order then holds
   * per channel: a node's pushes to one room keep their order, but not against its pushes on the
   * shared channel (docs/scaling.md, "Room channels").
   */
  roomChannels?: boolean
}

/** Counters of a Redis adapter, for logs and metrics. */
export type RedisAdapterStats = {
  /** Pushes sent to the other nodes (the pushes of one event-loop turn to one channel share one Redis message). */
  published: number
  /** Pushes that could not be sent (Redis unreachable): those never reached the other nodes. */
  publishFailed: number
  /** Pushes received from other nodes. */
  received: number
  /**
   * Pushes a store published with a write (ordered pushes) whose copy never came back to this node
   * (the subscription dropped, or over 2 s): delivered here directly, perhaps out of order.
   */
  orderedLost: number
  /** Messages on the channels that were not ours to read (bad header or lengths): dropped. */
  malformed: number
  /** Presence writes or reads that failed; presence falls back to this node's members until Redis is back. */
  presenceFailed: number
  /** Full re-registrations of this node's presence (after a reconnect or a lost lease). */
  resyncs: number
  /** Times the command connection came back after losing Redis. */
  reconnects: number
  /** Dead nodes this node cleaned up after. */
  deadNodes: number
  /** Members of dead nodes this node removed from presence. */
  expiredMembers: number
  /** 1 while the command connection to Redis is ready, else 0. */
  connected: number
  /** 1 while this node is subscribed to the shared push channel (pushes from other nodes arrive), else 0. */
  subscribed: number
}

/** A Redis adapter: an Adapter with counters. */
export interface RedisAdapter extends Adapter {
  /** A snapshot of the counters. */
  stats(): RedisAdapterStats
}

/**
 * Carries pushes and presence between Talk nodes through Redis: pub/sub for pushes (each push is
 * encoded once by the sending node and delivered as is; what one node publishes in one event-loop
 * turn leaves as one message per channel), presence in Redis hashes with a lease per node, cleaned
 * by the survivors when a node dies. Pushes prepared with `prepare()` are published by the Redis
 * store with its write and delivered by every node, the writer's too, as they come off the
 * channel: in the order of the writes. With `roomChannels`, a node hears only the rooms it has
 * members in (docs/scaling.md).
 *
 * @example
 * const app = talk({ adapter: redisAdapter({ url: process.env.REDIS_URL }) })
 */
export function redisAdapter(options: RedisAdapterOptions = {}): RedisAdapter {
  if (options === null || typeof options !== 'object') throw new TypeError('redisAdapter() takes an options object')
  if (options.url !== undefined && typeof options.url !== 'string') throw new TypeError('redisAdapter(): url must be a string')
  const prefix = options.prefix ?? 'talk:'
  if (typeof prefix !== 'string') throw new TypeError('redisAdapter(): prefix must be a string')
  const leaseMs = options.leaseMs ?? 10_000
  if (!Number.isFinite(leaseMs) || leaseMs < 200) throw new TypeError('redisAdapter(): leaseMs must be a number of ms, at least 200')
  const roomChannels = options.roomChannels ?? false
  if (typeof roomChannels !== 'boolean') throw new TypeError('redisAdapter(): roomChannels must be a boolean')
  return new RedisBus({ url: options.url, redis: options.redis ?? {}, names: new RedisNames(prefix), leaseMs, roomChannels })
}

interface Settings {
  readonly url: string | undefined
  readonly redis: RedisOptions
  readonly names: RedisNames
  readonly leaseMs: number
  readonly roomChannels: boolean
}

/** What a started adapter runs with: its node, its two connections and the parts built on them. */
interface Running {
  readonly host: AdapterHost
  readonly cmd: Redis
  readonly sub: Redis
  readonly log: Logger
  readonly trouble: TroubleLog
  readonly presence: RedisPresence
  readonly outbox: Outbox
  readonly subscriptions: Subscriptions
  timer?: NodeJS.Timeout
  /** The SUBSCRIBE sent when the subscription connection was last ready. */
  subscribing?: Promise<void>
  /** Whether the command connection was ready once: a later 'ready' is a reconnect. */
  everReady: boolean
}

class RedisBus implements RedisAdapter {
  private running: Running | undefined
  /** The counters that live across restarts; `connected` and `subscribed` are read when asked. */
  private readonly counters: RedisAdapterStats = {
    published: 0, publishFailed: 0, received: 0, orderedLost: 0, malformed: 0, presenceFailed: 0,
    resyncs: 0, reconnects: 0, deadNodes: 0, expiredMembers: 0, connected: 0, subscribed: 0,
  }
  private readonly ordered = new OrderedPushes(
    (rooms, frame, except) => this.running?.host.deliverLocal(rooms, frame, except),
    (channel) => this.running?.subscriptions.generation(channel) ?? NOT_LIVE,
  )
  /** Where the pushes of a message off a channel go (made once: no closure per message). */
  private readonly sink: MessageSink = {
    rooms: (_origin, rooms, frame, except) => {
      this.counters.received++
      this.running?.host.deliverLocal(rooms, frame, except)
    },
    client: (_origin, clientId, frame) => {
      this.counters.received++
      this.running?.host.deliverToClient(clientId, frame)
    },
    ordered: (origin, id, rooms, frame, except) => {
      // Every node, the writer's too, delivers an ordered push as it comes: in the order of the writes.
      if (origin === this.running?.host.nodeId) return this.ordered.arrived(id, rooms, frame, except)
      this.counters.received++
      this.running?.host.deliverLocal(rooms, frame, except)
    },
    handoff: (origin, to, body) => this.handoff.heard(origin, to, body),
  }
  /** Moves resumable sessions between nodes (resume on any node). */
  readonly handoff: RedisHandoff

  constructor(private readonly settings: Settings) {
    this.handoff = new RedisHandoff(() => this.running, settings.names, this.sink)
  }

  async start(host: AdapterHost): Promise<void> {
    if (this.running !== undefined) throw new Error('redisAdapter: already started')
    if (host.nodeId.includes('|')) throw new Error('redisAdapter: a node id must not contain "|"')
    // A resume token is `<node id>.<random>` (lib/resume/handoff.ts).
    if (host.nodeId.includes('.')) throw new Error('redisAdapter: a node id must not contain "."')
    const { url, redis, names, leaseMs, roomChannels } = this.settings
    const log = host.log.child({ adapter: 'redis', node: host.nodeId })
    const trouble = new TroubleLog(log, () => this.stats())
    const cmd = openConnection(url, redis, 'cmd')
    const sub = openConnection(url, redis, 'sub')
    const run: Running = {
      host, cmd, sub, log, trouble,
      presence: new RedisPresence(cmd, host, names, leaseMs, log, trouble, this.counters),
      outbox: new Outbox(cmd, host.nodeId, trouble, this.counters, this.handoff.enabled),
      subscriptions: new Subscriptions(sub, host, names, roomChannels, trouble,
        (channel) => this.ordered.unsubscribed(channel), () => this.ordered.subscribed()),
      everReady: false,
    }
    this.running = run
    this.listen(run, cmd, 'cmd')
    this.listen(run, sub, 'sub')
    try {
      await Promise.all([cmd.connect(), sub.connect()])
      await run.subscribing
      if (!run.subscriptions.busLive) throw new Error('could not subscribe')
    } catch (err) {
      cmd.disconnect()
      sub.disconnect()
      this.running = undefined
      throw new Error(`redisAdapter: cannot reach Redis (${describeError(err)})`)
    }
    await run.presence.resync()
    run.timer = setInterval(() => void this.beat(run), Math.max(50, Math.floor(leaseMs / 4)))
    run.timer.unref()
  }

  publish(rooms: string | readonly string[], frame: string, except: string | undefined): void {
    const run = this.running
    if (run !== undefined) run.outbox.add(this.channelOf(rooms), 'r', rooms, except, frame)
  }

  prepare(rooms: string | readonly string[], frame: string, except: string | undefined, after?: () => void): OrderedPush {
    const run = this.running
    const origin = run?.host.nodeId ?? ''
    const channel = this.channelOf(rooms)
    const publication = (id: number): { channel: string; message: string } => ({ channel, message: encodeOrdered(origin, rooms, except, id, frame) })
    // No member here in the room, so no subscription to its channel: nothing to wait for.
    if (run !== undefined && !run.subscriptions.wants(channel)) return this.ordered.unheard(after, publication)
    return this.ordered.prepare(rooms, frame, except, after, publication)
  }

  sendTo(clientId: string, frame: string): void {
    this.running?.outbox.add(this.settings.names.bus, 'c', clientId, undefined, frame)
  }

  join(room: string, entry: PresenceEntry): void {
    const run = this.running
    if (run === undefined) return
    run.subscriptions.watch(room)
    run.presence.join(room, entry)
  }

  leave(room: string, clientId: string): void {
    const run = this.running
    if (run === undefined) return
    run.presence.leave(room, clientId)
    run.subscriptions.release(room)
  }

  async members(room: string): Promise<PresenceEntry[]> {
    return this.running?.presence.members(room) ?? []
  }

  stats(): RedisAdapterStats {
    const run = this.running
    return {
      ...this.counters,
      orderedLost: this.ordered.lost,
      connected: run?.cmd.status === 'ready' ? 1 : 0,
      subscribed: run?.subscriptions.busLive === true ? 1 : 0,
    }
  }

  async stop(): Promise<void> {
    const run = this.running
    if (run === undefined) return
    run.trouble.quiet = true
    clearInterval(run.timer)
    run.subscriptions.stop()
    // What this turn published (the members' presence:leave, say) still goes out, before this node leaves Redis.
    run.outbox.flush()
    this.ordered.unsubscribed()
    await run.presence.unregister()
    await Promise.all([closeConnection(run.cmd), closeConnection(run.sub)])
    this.running = undefined
  }

  // ---- inside ---------------------------------------------------------------------------------

  /** The channel a push to rooms travels on: the shared one, or with room channels its room's (one room only). */
  private channelOf(rooms: string | readonly string[]): string {
    const { roomChannels, names } = this.settings
    return roomChannels && typeof rooms === 'string' && rooms !== EVERYONE ? names.roomChannel(rooms) : names.bus
  }

  private listen(run: Running, redis: Redis, role: ConnectionRole): void {
    redis.on('error', (err: unknown) => run.trouble.report(`connection:${role}`, err, 'Redis connection error'))
    if (role === 'sub') {
      redis.on('message', (_channel: string, message: string) => this.received(run, message))
      redis.on('ready', () => {
        run.subscribing = run.subscriptions.connected()
      })
      // What was published while the subscription is down never comes back: waiting writers get theirs directly.
      redis.on('close', () => {
        run.subscriptions.disconnected()
        this.handoff.disconnected()
      })
      return
    }
    redis.on('ready', () => {
      if (run.everReady) {
        this.counters.reconnects++
        run.log.info('Redis is back: registering this node again')
        void run.presence.resync()
      }
      run.everReady = true
    })
    redis.on('close', () => {
      if (run.everReady) run.trouble.report('connection:closed', undefined, 'lost Redis: pushes to other nodes fail until it is back')
    })
  }

  private received(run: Running, message: string): void {
    if (this.running !== run) return
    // While a session moves here, every push is read through the handoff's record, this node's own too.
    const read = this.handoff.active ? decodeMessage(message, '', this.handoff.sink) : decodeMessage(message, run.host.nodeId, this.sink)
    if (read >= 0) return
    this.counters.malformed++
    run.trouble.report('malformed', undefined, 'dropped a message of unknown shape on a push channel')
  }

  /** Renews the lease and cleans up after dead nodes, then makes the room channels match the local rooms. */
  private async beat(run: Running): Promise<void> {
    await run.presence.beat()
    run.subscriptions.reconcile()
  }
}
