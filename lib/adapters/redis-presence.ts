import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { AdapterHost } from './adapter'
import type { TroubleLog } from './redis-connection'
import type { RedisNames } from './redis-names'
import { MEMBERS, PURGE_NODE, runScript, SWEEP } from './redis-scripts'
import type { PresenceEntry, User } from '../types'

/** Counters of presence in Redis (part of `RedisAdapterStats`). */
export interface PresenceCounters {
  presenceFailed: number
  resyncs: number
  deadNodes: number
  expiredMembers: number
}

/**
 * One node's presence in Redis: its members in each room's hash, a lease renewed every
 * `leaseMs / 4` that lives `3/4 × leaseMs`, and the sweep that removes dead nodes' members (telling
 * the host, which may push `presence:leave`). Trouble is counted and logged, never thrown; presence
 * is written again in full at the next beat after a failed write.
 */
export class RedisPresence {
  /** Set when a presence write failed: the next beat registers everything again. */
  private dirty = false

  constructor(
    private readonly cmd: Redis,
    private readonly host: AdapterHost,
    private readonly names: RedisNames,
    private readonly leaseMs: number,
    private readonly log: Logger,
    private readonly trouble: TroubleLog,
    /** Where it counts failures, resyncs and dead nodes (the adapter's counters). */
    private readonly counters: PresenceCounters,
  ) {}

  /** Lists a local member in a room. */
  join(room: string, entry: PresenceEntry): void {
    const node = this.host.nodeId
    this.cmd.multi()
      .hset(this.names.roomKey(room), `${node}|${entry.id}`, userJson(entry.user))
      .hset(this.names.heldKey(node), JSON.stringify([room, entry.id]), '1')
      .exec()
      .then((results) => this.checkExec(results), (err: unknown) => this.failed(err))
  }

  /** Takes a local member out of a room's list. */
  leave(room: string, clientId: string): void {
    const node = this.host.nodeId
    this.cmd.multi()
      .hdel(this.names.roomKey(room), `${node}|${clientId}`)
      .hdel(this.names.heldKey(node), JSON.stringify([room, clientId]))
      .exec()
      .then((results) => this.checkExec(results), (err: unknown) => this.failed(err))
  }

  /** This node's members of a room (from memory, exact even while Redis is away), then the other live nodes'. */
  async members(room: string): Promise<PresenceEntry[]> {
    const local = this.host.localMembers(room)
    let flat: unknown
    try {
      flat = await runScript(this.cmd, MEMBERS, [this.names.roomKey(room)], [this.names.prefix, this.host.nodeId])
    } catch (err) {
      this.failed(err)
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

  /** Renews the lease (registering again if it was lost or a write failed), then cleans up after dead nodes. */
  async beat(): Promise<void> {
    const { cmd, host } = this
    if (cmd.status !== 'ready') return
    try {
      const renewed = await cmd.set(this.names.leaseKey(host.nodeId), '1', 'PX', this.ttl(), 'XX')
      if (renewed === null || this.dirty) {
        if (renewed === null) this.log.warn('this node\'s lease was gone (Redis restarted or the node stalled): registering again')
        await this.resync()
      }
      const flat = await runScript(cmd, SWEEP, [this.names.nodes], [this.names.prefix])
      if (Array.isArray(flat)) this.expired(flat)
    } catch (err) {
      this.trouble.report('beat', err, 'lease renewal or sweep failed')
    }
  }

  /** Writes this node's lease and every local member, replacing whatever Redis held for it. */
  async resync(): Promise<void> {
    const { cmd, host, names } = this
    this.dirty = false
    const tx = cmd.multi()
      .eval(PURGE_NODE.source, 0, names.prefix, host.nodeId)
      .sadd(names.nodes, host.nodeId)
      .set(names.leaseKey(host.nodeId), '1', 'PX', this.ttl())
    const held = names.heldKey(host.nodeId)
    for (const room of host.localRooms()) {
      for (const entry of host.localMembers(room)) {
        tx.hset(names.roomKey(room), `${host.nodeId}|${entry.id}`, userJson(entry.user))
        tx.hset(held, JSON.stringify([room, entry.id]), '1')
      }
    }
    try {
      this.checkExec(await tx.exec())
      this.counters.resyncs++
    } catch (err) {
      this.failed(err)
    }
  }

  /** Removes this node and its members from Redis (a graceful stop); on failure its lease expires instead. */
  async unregister(): Promise<void> {
    const { cmd, host, names } = this
    if (cmd.status !== 'ready') return
    try {
      await cmd.multi()
        .eval(PURGE_NODE.source, 0, names.prefix, host.nodeId)
        .srem(names.nodes, host.nodeId)
        .del(names.leaseKey(host.nodeId))
        .exec()
    } catch (err) {
      this.log.warn({ err }, 'could not remove this node from Redis; its lease will expire')
    }
  }

  /** Tells the host about members of dead nodes, so it can push presence:leave. */
  private expired(flat: unknown[]): void {
    const dead = flat[0]
    if (typeof dead !== 'number' || dead === 0) return
    this.counters.deadNodes += dead
    let members = 0
    for (let i = 1; i + 2 < flat.length; i += 3) {
      const room: unknown = flat[i]
      const id: unknown = flat[i + 1]
      const user: unknown = flat[i + 2]
      if (typeof room !== 'string' || typeof id !== 'string' || typeof user !== 'string') continue
      members++
      this.host.memberLeft(room, { id, user: parseUser(user) })
    }
    this.counters.expiredMembers += members
    this.log.info({ nodes: dead, members }, 'cleaned up after dead nodes: their members left presence')
  }

  private checkExec(results: [Error | null, unknown][] | null): void {
    const failed = results?.find(([err]) => err !== null)
    if (results === null || failed !== undefined) this.failed(failed?.[0] ?? new Error('transaction aborted'))
  }

  private failed(err: unknown): void {
    this.counters.presenceFailed++
    this.dirty = true
    this.trouble.report('presence', err, 'presence in Redis is behind; it is registered again once Redis answers')
  }

  private ttl(): number {
    return Math.floor((this.leaseMs * 3) / 4)
  }
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
