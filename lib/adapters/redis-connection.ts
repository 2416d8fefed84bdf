import type { Redis, RedisOptions } from 'ioredis'
import type { Logger } from 'pino'
import { redisClass } from './ioredis'

/** Which of the adapter's two connections: commands (publish, presence) or subscriptions. */
export type ConnectionRole = 'cmd' | 'sub'

/**
 * Opens (lazily: call `connect()`) one of the adapter's connections, with the settings that make
 * a push at most once: no offline queue, no resend of a command whose reply was lost, channels
 * subscribed again by hand after a reconnect.
 */
export function openConnection(url: string | undefined, redisOptions: RedisOptions, role: ConnectionRole): Redis {
  const options: RedisOptions = {
    // Reconnect fast and forever: a Redis restart should cost seconds, not minutes.
    retryStrategy: (times) => Math.min(times * 50, 1000),
    ...redisOptions,
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
    // Channels are subscribed again by hand on every reconnect, to know when pushes flow again.
    autoResubscribe: false,
  }
  // ioredis waits this long for a dropped socket to close before destroying it (default 2 s, an
  // option its types omit): long enough to hold a failed start-up or a test run open.
  Object.assign(options, { disconnectTimeout: 200 })
  const RedisClient = redisClass()
  return url === undefined ? new RedisClient(options) : new RedisClient(url, options)
}

/** Closes a connection: QUIT when it is up (replies in flight arrive first), else at once. */
export async function closeConnection(redis: Redis): Promise<void> {
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

/** An error's message, for a log line or a thrown error. */
export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

const LOG_EVERY_MS = 5000

/**
 * Logs the adapter's trouble at warn, at most once per kind every few seconds (debug in between):
 * an outage must not flood the log. Silent once `quiet` is set (the adapter is stopping).
 */
export class TroubleLog {
  private readonly lastLogged = new Map<string, number>()
  /** Set while stopping: trouble is expected then, and not logged. */
  quiet = false

  constructor(
    private readonly log: Logger,
    /** The counters to attach to a warning. */
    private readonly stats: () => object,
  ) {}

  /** Reports one trouble of a kind. */
  report(kind: string, err: unknown, message: string): void {
    if (this.quiet) return
    const now = Date.now()
    const last = this.lastLogged.get(kind) ?? 0
    if (now - last >= LOG_EVERY_MS) {
      this.lastLogged.set(kind, now)
      this.log.warn({ err, stats: this.stats() }, message)
    } else {
      this.log.debug({ err }, message)
    }
  }
}
