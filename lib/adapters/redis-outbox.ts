import type { Redis } from 'ioredis'
import type { TroubleLog } from './redis-connection'
import { encodeBatch, encodeOne, type PushKind } from './redis-wire'

/** Counters of pushes leaving this node (part of `RedisAdapterStats`). */
export interface OutboxCounters {
  published: number
  publishFailed: number
}

/**
 * Pushes this node publishes in one event-loop turn, per channel, sent as one Redis message per
 * channel once the turn ends (one PUBLISH, one header to parse on each receiving node, instead of
 * one per push). A push alone in its turn goes in the single-push format. Order per channel is the
 * order of `add`; a message that cannot leave is counted as failed with every push it held, never
 * sent again.
 */
export class Outbox {
  /** Per channel, the waiting pushes as flat `kind, target, except, frame` quadruples: no object per push. */
  private readonly queues = new Map<string, unknown[]>()
  /** The last channel added to and its queue: most turns publish to one channel only. */
  private lastChannel: string | undefined
  private lastQueue: unknown[] = []
  private scheduled = false
  /** Messages numbered so far: the `seq` of the last one (lib/adapters/redis-wire.ts). */
  private seq = 0
  private readonly flushNow = (): void => this.flush()
  /** Told of every message as it leaves, while set (a session handoff records this node's pushes). */
  tap: ((seq: number, flat: readonly unknown[]) => void) | undefined

  constructor(
    private readonly cmd: Redis,
    private readonly origin: string,
    private readonly trouble: TroubleLog,
    /** Where it counts pushes sent and dropped (the adapter's counters). */
    private readonly counters: OutboxCounters,
    /** Whether messages carry their number (`seq`): only when sessions may move between nodes, as older nodes cannot read it. */
    public numbered = false,
  ) {}

  /** Queues a push to rooms (`kind` r) or one client (`kind` c, `target` its id) for the end of this turn. */
  add(channel: string, kind: PushKind, target: string | readonly string[], except: string | undefined, frame: string): void {
    let queue = this.lastQueue
    if (channel !== this.lastChannel) {
      queue = this.queues.get(channel) ?? this.open(channel)
      this.lastChannel = channel
      this.lastQueue = queue
    }
    queue.push(kind, target, except, frame)
    if (this.scheduled) return
    this.scheduled = true
    // After the I/O callbacks of this turn: every request read in one go publishes in one message.
    setImmediate(this.flushNow)
  }

  /** The number of the last message published (sent or failed): every push added before is in one numbered so far, once flushed. */
  get sent(): number {
    return this.seq
  }

  /** Publishes what is waiting, one message per channel (also called when the adapter stops). */
  flush(): void {
    this.scheduled = false
    if (this.queues.size === 0) return
    const queues = [...this.queues]
    this.queues.clear()
    this.lastChannel = undefined
    this.lastQueue = []
    for (const [channel, queue] of queues) this.publish(channel, queue)
  }

  private open(channel: string): unknown[] {
    const queue: unknown[] = []
    this.queues.set(channel, queue)
    return queue
  }

  private publish(channel: string, queue: unknown[]): void {
    const count = queue.length / 4
    if (this.cmd.status !== 'ready') {
      if (this.numbered) this.seq++
      this.counters.publishFailed += count
      this.trouble.report('publish', undefined, 'Redis is unreachable: a push to other nodes was dropped')
      return
    }
    const seq = this.numbered ? ++this.seq : undefined
    if (seq !== undefined && this.tap !== undefined) this.tap(seq, queue)
    const message = count === 1
      ? encodeOne(this.origin, queue[0] as PushKind, queue[1] as string | string[], queue[2] as string | undefined, queue[3] as string, seq)
      : encodeBatch(this.origin, queue, count, seq)
    this.counters.published += count
    this.cmd.publish(channel, message).catch((err: unknown) => {
      this.counters.published -= count
      this.counters.publishFailed += count
      this.trouble.report('publish', err, 'a push to other nodes was dropped')
    })
  }
}
