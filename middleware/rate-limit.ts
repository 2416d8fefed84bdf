import type { TalkApp } from '../lib/app'
import type { Context } from '../lib/context'
import { CLOSE, TalkError } from '../lib/errors'
import { compileMatcher } from '../lib/router'
import type { Client, Middleware } from '../lib/types'
import type { RateLimitBy, RateLimitOptions } from '../lib/built-ins'
import { isHttpClient } from '../lib/http/client'
import { userKey } from '../lib/user-key'

export type { RateLimitBy, RateLimitOptions }

/**
 * A token bucket: holds up to `capacity` tokens, gains `refillPerSecond` per second, and each
 * request takes one (or `cost`). Rejected requests go into debt, down to `-floor`, so a client that
 * keeps sending past its limit never gets back above zero and reaches the floor. Two numbers of
 * state; time is passed in (ms, any monotonic clock) so it is testable without timers.
 */
export class TokenBucket {
  private tokens: number
  private last: number

  constructor(
    readonly capacity: number,
    readonly refillPerSecond: number,
    /** How deep in debt rejected requests may take the bucket, in tokens (Infinity: no floor). */
    readonly floor: number = Infinity,
    now: number = performance.now(),
  ) {
    this.tokens = capacity
    this.last = now
  }

  /**
   * Takes `cost` tokens. Returns 0 when the request may go ahead, otherwise the ms to wait until it
   * could (the bucket then owes `cost` more, down to the floor).
   */
  take(now: number = performance.now(), cost = 1): number {
    this.refill(now)
    if (this.tokens >= cost) {
      this.tokens -= cost
      return 0
    }
    this.tokens = Math.max(this.tokens - cost, -this.floor)
    return Math.ceil(((cost - this.tokens) / this.refillPerSecond) * 1000)
  }

  /** Whether rejected requests have taken the bucket to its floor (sustained abuse). */
  exhausted(): boolean {
    return this.tokens <= -this.floor
  }

  /** Whether the bucket is full at `now`: a full bucket is the same as a new one, so it can be dropped. */
  full(now: number = performance.now()): boolean {
    this.refill(now)
    return this.tokens >= this.capacity
  }

  /** Tokens available at `now` (negative while in debt). */
  available(now: number = performance.now()): number {
    this.refill(now)
    return this.tokens
  }

  private refill(now: number): void {
    const elapsed = now - this.last
    if (elapsed <= 0) return
    this.last = now
    this.tokens = Math.min(this.capacity, this.tokens + (elapsed / 1000) * this.refillPerSecond)
  }
}

/** The middleware `rateLimit()` returns. */
export interface RateLimit extends Middleware {
  /** Buckets held in the shared (user / IP / key) map now; per-connection buckets live on their client. */
  readonly size: number
  /** Stops the sweep timer and drops the shared buckets. */
  close(): void
  /** Called by `app.use()`: counts the app's queue-full refusals (its `overflow` event) toward the close, as requests. */
  attach(app: TalkApp, pattern: string | undefined): void
}

/**
 * Token-bucket rate limiting. A request past the limit is answered `RATE_LIMITED` with
 * `details: { retryAfterMs }` (over the REST bridge: 429 with `Retry-After`) and the connection stays;
 * requests through the REST bridge that would take a per-connection bucket take their IP's instead; a
 * client that keeps sending anyway is closed with 1008 (`CLOSE.POLICY`, reason `rate limit exceeded`)
 * once it owes `closeAfter` tokens. Requests the connection refused because its queue was full (they
 * never reach middleware) take a token each too, so a flood past the queue still reaches the close. Memory is
 * constant per client: five numbers per bucket, per-connection buckets die with their connection, and
 * shared buckets are dropped once full again.
 *
 * @example app.use(rateLimit({ capacity: 20, refillPerSecond: 10 }))
 */
export function rateLimit(options: RateLimitOptions = {}): RateLimit {
  if (options === null || typeof options !== 'object') throw new TypeError('rateLimit() takes an options object')
  const { capacity = 100, refillPerSecond = 50, by = 'connection', cost } = options
  if (!Number.isFinite(capacity) || capacity < 1) throw new TypeError('rateLimit(): "capacity" must be a number ≥ 1')
  if (!Number.isFinite(refillPerSecond) || refillPerSecond <= 0) throw new TypeError('rateLimit(): "refillPerSecond" must be a positive number')
  const closeAfter = options.closeAfter ?? 2 * capacity
  if (typeof closeAfter !== 'number' || Number.isNaN(closeAfter) || closeAfter < 1) {
    throw new TypeError('rateLimit(): "closeAfter" must be a number ≥ 1 (Infinity never closes)')
  }
  if (typeof by !== 'function' && by !== 'connection' && by !== 'user' && by !== 'ip') {
    throw new TypeError('rateLimit(): "by" must be connection, user, ip or a function')
  }
  if (cost !== undefined && typeof cost !== 'function') throw new TypeError('rateLimit(): "cost" must be a function')

  const perConnection = new WeakMap<Client, TokenBucket>()
  const shared = new Map<string, TokenBucket>()
  let sweeper: NodeJS.Timeout | undefined
  // A bucket left alone this long is full again; sweeping at that period bounds the map to the keys
  // active in the last two periods.
  const sweepMs = Math.max(1000, Math.ceil((capacity / refillPerSecond) * 1000))

  const sweep = (): void => {
    const now = performance.now()
    for (const [key, bucket] of shared) if (bucket.full(now)) shared.delete(key)
    if (shared.size === 0 && sweeper !== undefined) {
      clearInterval(sweeper)
      sweeper = undefined
    }
  }

  const keyOf = (ctx: Context): string | undefined => {
    const key = chosenKey(ctx)
    if (key !== undefined || !isHttpClient(ctx.client)) return key
    // A bridged HTTP request is a client of its own that lives for one request: its "connection" is
    // its address, or every request would start with a full bucket.
    const ip = ctx.client.handshake.ip
    return ip === undefined ? undefined : `i:${ip}`
  }

  const chosenKey = (ctx: Context): string | undefined => {
    if (by === 'connection') return undefined
    if (by === 'user') {
      const key = userKey(ctx.client.user)
      return key === undefined ? undefined : `u:${key}`
    }
    if (by === 'ip') {
      const ip = ctx.client.handshake.ip
      return ip === undefined ? undefined : `i:${ip}`
    }
    const key = by(ctx)
    return typeof key === 'string' ? `k:${key}` : undefined
  }

  const bucketOf = (ctx: Context, now: number): TokenBucket => {
    const key = keyOf(ctx)
    if (key === undefined) {
      let bucket = perConnection.get(ctx.client)
      if (bucket === undefined) perConnection.set(ctx.client, (bucket = new TokenBucket(capacity, refillPerSecond, closeAfter, now)))
      return bucket
    }
    let bucket = shared.get(key)
    if (bucket === undefined) {
      shared.set(key, (bucket = new TokenBucket(capacity, refillPerSecond, closeAfter, now)))
      if (sweeper === undefined) {
        sweeper = setInterval(sweep, sweepMs)
        sweeper.unref()
      }
    }
    return bucket
  }

  const middleware = function rateLimit(ctx: Context, next: () => Promise<void>): unknown {
    // The context read the same clock when the message was dispatched: no second read per message.
    const now = ctx.startedAt
    const bucket = bucketOf(ctx, now)
    const wait = bucket.take(now, cost === undefined ? 1 : cost(ctx))
    if (wait === 0) return next()
    const err = new TalkError('RATE_LIMITED', 'Too many requests', { retryAfterMs: wait })
    if (!bucket.exhausted()) throw err
    // Answer first, then close: close() flushes the corked reply before the close frame.
    ctx.fail(err)
    closeFlooder(ctx)
    return undefined
  } as RateLimit

  const closeFlooder = (ctx: Context): void => {
    ctx.client.close(CLOSE.POLICY, 'rate limit exceeded')
    ctx.log.warn({ client: ctx.client.id }, 'closed a connection flooding past its rate limit')
  }

  middleware.attach = (app, pattern) => {
    const applies = pattern === undefined ? undefined : compileMatcher(pattern)
    // A refused request was answered already (RATE_LIMITED, queue full): it only takes its token.
    app.on('overflow', (ctx) => {
      if (applies !== undefined && applies(ctx.route) === false) return
      const bucket = bucketOf(ctx, ctx.startedAt)
      bucket.take(ctx.startedAt)
      if (bucket.exhausted()) closeFlooder(ctx)
    })
  }

  Object.defineProperty(middleware, 'size', { get: () => shared.size })
  middleware.close = () => {
    if (sweeper !== undefined) clearInterval(sweeper)
    sweeper = undefined
    shared.clear()
  }
  return middleware
}
