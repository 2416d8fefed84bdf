import type { Redis, RedisOptions } from 'ioredis'
import { redisClass } from './ioredis'
import type { Logger } from 'pino'
import type { Adapter, AdapterHost, OrderedPush } from './adapter'
import { OrderedPushes } from './ordered-pushes'
import { MEMBERS, PURGE_NODE, runScript, SWEEP } from './redis-scripts'
import type { PresenceEntry, User } from '../types'

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
}

/** Counters of a Redis adapter, for logs and metrics. */
export type RedisAdapterStats = {
  /** Pushes sent to the other nodes. */
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
  /** Messages on the channel that were not ours to read (bad header): dropped. */
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
  /** 1 while this node is subscribed to the push channel (pushes from other nodes arrive), else 0. */
  subscribed: number
}

/** A Redis adapter: an Adapter with counters. */
export interface RedisAdapter extends Adapter {
  /** A snapshot of the counters. */
  stats(): RedisAdapterStats
}

type Header =
  | ['r', string, string | string[], string | null]
  | ['c', string, string]
  | ['o', string, string | string[], string | null, number]

const LOG_EVERY_MS = 5000

/**
 * Carries pushes and presence between Talk nodes through Redis: one pub/sub channel for pushes
 * (each push is encoded once by the sending node and delivered as is), presence in Redis hashes
 * with a lease per node, cleaned by the survivors when a node dies. Pushes prepared with
 * `prepare()` are published by the Redis store with its write and delivered by every node, the
 * writer's too, as they come off the channel: in the order of the writes (docs/scaling.md).
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
  return new RedisBus(options.url, options.redis ?? {}, prefix, leaseMs)
}

class RedisBus implements RedisAdapter {
  private host: AdapterHost | undefined
  private log: Logger | undefined
  private cmd: Redis | undefined
  private sub: Redis | undefined
  private timer: NodeJS.Timeout | undefined
  private readonly counters: RedisAdapterStats = {
    published: 0, publishFailed: 0, received: 0, orderedLost: 0, malformed: 0, presenceFailed: 0,
    resyncs: 0, reconnects: 0, deadNodes: 0, expiredMembers: 0, connected: 0, subscribed: 0,
  }
  private readonly channel: string
  private readonly nodes: string
  private subscribing: Promise<void> | undefined
  private subscribed = false
  /** Set when a presence write failed: the next beat registers everything again. */
  private dirty = false
  private everReady = false
  private stopping = false
  private readonly lastLogged = new Map<string, number>()
  private readonly ordered = new OrderedPushes((rooms, frame, except) => this.host?.deliverLocal(rooms, frame, except))

  constructor(
    private readonly url: string | undefined,
    private readonly redisOptions: RedisOptions,
    private readonly prefix: string,
    private readonly leaseMs: number,
  ) {
    this.channel = `${prefix}bus`
    this.nodes = `${prefix}nodes`
  }

  async start(host: AdapterHost): Promise<void> {
    if (this.host !== undefined) throw new Error('redisAdapter: already started')
    if (host.nodeId.includes('|')) throw new Error('redisAdapter: a node id must not contain "|"')
    this.host = host
    this.log = host.log.child({ adapter: 'redis', node: host.nodeId })
    this.cmd = this.connect('cmd')
    this.sub = this.connect('sub')
    try {
      await Promise.all([this.cmd.connect(), this.sub.connect()])
      await this.subscribing
      if (!this.subscribed) throw new Error('could not subscribe')
    } catch (err) {
      this.cmd.disconnect()
      this.sub.disconnect()
      this.host = undefined
      throw new Error(`redisAdapter: cannot reach Redis (${describe(err)})`)
    }
    await this.resync()
    this.timer = setInterval(() => void this.beat(), Math.max(50, Math.floor(this.leaseMs / 4)))
    this.timer.unref()
  }

  publish(rooms: string | readonly string[], frame: string, except: string | undefined): void {
    const origin = this.host?.nodeId
    if (origin === undefined) return
    this.send(JSON.stringify(['r', origin, rooms, except ?? null]) + '\n' + frame)
  }

  prepare(rooms: string | readonly string[], frame: string, except: string | undefined, after?: () => void): OrderedPush {
    const origin = this.host?.nodeId ?? ''
    return this.ordered.prepare(rooms, frame, except, after, (id) => ({
      channel: this.channel,
      message: JSON.stringify(['o', origin, rooms, except ?? null, id]) + '\n' + frame,
    }))
  }

  sendTo(clientId: string, frame: string): void {
    const origin = this.host?.nodeId
    if (origin === undefined) return
    this.send(JSON.stringify(['c', origin, clientId]) + '\n' + frame)
  }

  join(room: string, entry: PresenceEntry): void {
    const { cmd, host } = this
    if (cmd === undefined || host === undefined) return
    cmd.multi()
      .hset(this.roomKey(room), `${host.nodeId}|${entry.id}`, userJson(entry.user))
      .hset(this.heldKey(host.nodeId), JSON.stringify([room, entry.id]), '1')
      .exec()
      .then((results) => this.checkExec(results), (err: unknown) => this.presenceTrouble(err))
  }

  leave(room: string, clientId: string): void {
    const { cmd, host } = this
    if (cmd === undefined || host === undefined) return
    cmd.multi()
      .hdel(this.roomKey(room), `${host.nodeId}|${clientId}`)
      .hdel(this.heldKey(host.nodeId), JSON.stringify([room, clientId]))
      .exec()
      .then((results) => this.checkExec(results), (err: unknown) => this.presenceTrouble(err))
  }

  async members(room: string): Promise<PresenceEntry[]> {
    const { cmd, host } = this
    if (host === undefined) return []
    // This node's own members come from memory: exact even while Redis is away.
    const local = host.localMembers(room)
    if (cmd === undefined) return local
    let flat: unknown
    try {
      flat = await runScript(cmd, MEMBERS, [this.roomKey(room)], [this.prefix, host.nodeId])
    } catch (err) {
      this.presenceTrouble(err)
      return local
    }
    if (!Array.isArray(flat)) return local
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const id: unknown = flat[i]
      const user: unknown = flat[i + 1]
      if (typeof id === 'string' && typeof user === 'string') local.push({ id, user: parseUser(user) })
    }
    return local
  }

  stats(): RedisAdapterStats {
    return { ...this.counters, orderedLost: this.ordered.lost, connected: this.cmd?.status === 'ready' ? 1 : 0, subscribed: this.subscribed ? 1 : 0 }
  }

  async stop(): Promise<void> {
    const { cmd, sub, host } = this
    if (host === undefined || cmd === undefined || sub === undefined) return
    this.stopping = true
    clearInterval(this.timer)
    this.ordered.unsubscribed()
    if (cmd.status === 'ready') {
      try {
        await cmd.multi()
          .eval(PURGE_NODE.source, 0, this.prefix, host.nodeId)
          .srem(this.nodes, host.nodeId)
          .del(this.leaseKey(host.nodeId))
          .exec()
      } catch (err) {
        this.log?.warn({ err }, 'could not remove this node from Redis; its lease will expire')
      }
    }
    await Promise.all([quit(cmd), quit(sub)])
    this.host = undefined
    this.cmd = undefined
    this.sub = undefined
  }

  // ---- inside ---------------------------------------------------------------------------------

  private connect(role: 'cmd' | 'sub'): Redis {
    const base: RedisOptions = {
      // Reconnect fast and forever: a Redis restart should cost seconds, not minutes.
      retryStrategy: (times) => Math.min(times * 50, 1000),
      ...this.redisOptions,
      lazyConnect: true,
      // Commands fail at once while Redis is away instead of piling up: a push that cannot leave is
      // counted and dropped, and presence is registered again in full once Redis is back.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      // A PUBLISH whose reply a dropped connection lost may have reached the other nodes: sending it
      // again after the reconnect (ioredis' default) would push it twice. It is counted as failed
      // instead (at most once); presence is registered again in full after a reconnect anyway.
      autoResendUnfulfilledCommands: false,
      connectionName: `talk-${role}`,
      // The channel is subscribed again by hand on every reconnect, to know when pushes flow again.
      autoResubscribe: false,
    }
    // ioredis waits this long for a dropped socket to close before destroying it (default 2 s, an
    // option its types omit): long enough to hold a failed start-up or a test run open.
    Object.assign(base, { disconnectTimeout: 200 })
    const RedisClient = redisClass()
    const redis = this.url === undefined ? new RedisClient(base) : new RedisClient(this.url, base)
    redis.on('error', (err: unknown) => this.trouble(`connection:${role}`, err, 'Redis connection error'))
    if (role === 'sub') {
      redis.on('message', (_channel: string, message: string) => this.received(message))
      redis.on('ready', () => {
        this.subscribing = redis.subscribe(this.channel).then(
          () => {
            this.subscribed = true
            this.ordered.subscribed()
          },
          (err: unknown) => this.trouble('subscribe', err, 'could not subscribe to the push channel'),
        )
      })
      redis.on('close', () => {
        this.subscribed = false
        // What was published while the subscription is down never comes back: waiting writers get theirs directly.
        this.ordered.unsubscribed()
      })
    }
    if (role === 'cmd') {
      redis.on('ready', () => {
        if (this.everReady) {
          this.counters.reconnects++
          this.log?.info('Redis is back: registering this node again')
          void this.resync()
        }
        this.everReady = true
      })
      redis.on('close', () => {
        if (!this.stopping && this.everReady) this.trouble('connection:closed', undefined, 'lost Redis: pushes to other nodes fail until it is back')
      })
    }
    return redis
  }

  private send(message: string): void {
    const cmd = this.cmd
    if (cmd === undefined) return
    if (cmd.status !== 'ready') {
      this.counters.publishFailed++
      this.trouble('publish', undefined, 'Redis is unreachable: a push to other nodes was dropped')
      return
    }
    this.counters.published++
    cmd.publish(this.channel, message).catch((err: unknown) => {
      this.counters.published--
      this.counters.publishFailed++
      this.trouble('publish', err, 'a push to other nodes was dropped')
    })
  }

  private received(message: string): void {
    const host = this.host
    if (host === undefined) return
    const cut = message.indexOf('\n')
    const header = cut < 0 ? undefined : parseHeader(message.slice(0, cut))
    if (header === undefined) {
      this.counters.malformed++
      this.trouble('malformed', undefined, 'dropped a message of unknown shape on the channel')
      return
    }
    const frame = message.slice(cut + 1)
    if (header[0] === 'o') return this.receivedOrdered(header, frame)
    // Our own pushes come back on the channel: this node delivered them already.
    if (header[1] === host.nodeId) return
    this.counters.received++
    if (header[0] === 'r') host.deliverLocal(header[2], frame, header[3] ?? undefined)
    else host.deliverToClient(header[2], frame)
  }

  /**
   * An ordered push off the channel, this node's own too: every node delivers it as it comes, so in
   * the channel's order, which is the order of the writes.
   */
  private receivedOrdered(header: Extract<Header, ['o', ...unknown[]]>, frame: string): void {
    const [, origin, rooms, except, id] = header
    if (origin === this.host?.nodeId) return this.ordered.arrived(id, rooms, frame, except ?? undefined)
    this.counters.received++
    this.host?.deliverLocal(rooms, frame, except ?? undefined)
  }

  /** Renews the lease (registering again if it was lost), then cleans up after dead nodes. */
  private async beat(): Promise<void> {
    const { cmd, host } = this
    if (cmd === undefined || host === undefined || cmd.status !== 'ready') return
    try {
      const renewed = await cmd.set(this.leaseKey(host.nodeId), '1', 'PX', this.ttl(), 'XX')
      if (renewed === null || this.dirty) {
        if (renewed === null) this.log?.warn('this node\'s lease was gone (Redis restarted or the node stalled): registering again')
        await this.resync()
      }
      const flat = await runScript(cmd, SWEEP, [this.nodes], [this.prefix])
      if (Array.isArray(flat)) this.expired(flat)
    } catch (err) {
      this.trouble('beat', err, 'lease renewal or sweep failed')
    }
  }

  /** Tells the host about members of dead nodes, so it can push presence:leave. */
  private expired(flat: unknown[]): void {
    const host = this.host
    const dead = flat[0]
    if (host === undefined || typeof dead !== 'number' || dead === 0) return
    this.counters.deadNodes += dead
    let members = 0
    for (let i = 1; i + 2 < flat.length; i += 3) {
      const room: unknown = flat[i]
      const id: unknown = flat[i + 1]
      const user: unknown = flat[i + 2]
      if (typeof room !== 'string' || typeof id !== 'string' || typeof user !== 'string') continue
      members++
      host.memberLeft(room, { id, user: parseUser(user) })
    }
    this.counters.expiredMembers += members
    this.log?.info({ nodes: dead, members }, 'cleaned up after dead nodes: their members left presence')
  }

  /** Writes this node's lease and every local member, replacing whatever Redis held for it. */
  private async resync(): Promise<void> {
    const { cmd, host } = this
    if (cmd === undefined || host === undefined) return
    this.dirty = false
    const tx = cmd.multi()
      .eval(PURGE_NODE.source, 0, this.prefix, host.nodeId)
      .sadd(this.nodes, host.nodeId)
      .set(this.leaseKey(host.nodeId), '1', 'PX', this.ttl())
    const held = this.heldKey(host.nodeId)
    for (const room of host.localRooms()) {
      for (const entry of host.localMembers(room)) {
        tx.hset(this.roomKey(room), `${host.nodeId}|${entry.id}`, userJson(entry.user))
        tx.hset(held, JSON.stringify([room, entry.id]), '1')
      }
    }
    try {
      this.checkExec(await tx.exec())
      this.counters.resyncs++
    } catch (err) {
      this.presenceTrouble(err)
    }
  }

  private checkExec(results: [Error | null, unknown][] | null): void {
    const failed = results?.find(([err]) => err !== null)
    if (results === null || failed !== undefined) this.presenceTrouble(failed?.[0] ?? new Error('transaction aborted'))
  }

  private presenceTrouble(err: unknown): void {
    this.counters.presenceFailed++
    this.dirty = true
    this.trouble('presence', err, 'presence in Redis is behind; it is registered again once Redis answers')
  }

  /** Logs trouble at warn, at most once per kind every few seconds (debug in between): an outage must not flood the log. */
  private trouble(kind: string, err: unknown, message: string): void {
    const log = this.log
    if (log === undefined || this.stopping) return
    const now = Date.now()
    const last = this.lastLogged.get(kind) ?? 0
    if (now - last >= LOG_EVERY_MS) {
      this.lastLogged.set(kind, now)
      log.warn({ err, stats: this.stats() }, message)
    } else {
      log.debug({ err }, message)
    }
  }

  private ttl(): number {
    return Math.floor((this.leaseMs * 3) / 4)
  }

  private roomKey(room: string): string {
    return `${this.prefix}room:${room}`
  }

  private heldKey(node: string): string {
    return `${this.prefix}held:${node}`
  }

  private leaseKey(node: string): string {
    return `${this.prefix}lease:${node}`
  }
}

function parseHeader(text: string): Header | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!Array.isArray(value) || typeof value[1] !== 'string') return undefined
  if (value[0] === 'c' && value.length === 3 && typeof value[2] === 'string') return value as Header
  if (value[0] === 'o' && (value.length !== 5 || !Number.isSafeInteger(value[4]))) return undefined
  if (value[0] !== 'o' && (value[0] !== 'r' || value.length !== 4)) return undefined
  const rooms: unknown = value[2]
  const roomsOk = typeof rooms === 'string' || (Array.isArray(rooms) && rooms.every((r) => typeof r === 'string'))
  return roomsOk && (value[3] === null || typeof value[3] === 'string') ? (value as Header) : undefined
}

function userJson(user: User | undefined): string {
  return user === undefined ? '' : JSON.stringify(user)
}

function parseUser(text: string): User | undefined {
  if (text === '') return undefined
  try {
    const value: unknown = JSON.parse(text)
    return value !== null && typeof value === 'object' ? (value as User) : undefined
  } catch {
    return undefined
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

async function quit(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    try {
      await redis.quit()
      return
    } catch {
      // Fall through: the connection is going anyway.
    }
  }
  redis.disconnect()
}
