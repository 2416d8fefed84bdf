import type { z } from 'zod'
import type { Context } from './context'
import type { Middleware } from './types'

/** Schemas `validate()` checks: the body and the route params. */
export interface ValidateOptions {
  /** Checked against `ctx.body`; on success the parsed (coerced, stripped) value replaces it. */
  body?: z.ZodType
  /** Checked against `ctx.params`; on success the parsed value replaces them. */
  params?: z.ZodType
}

/**
 * A `validate()` middleware carrying its schemas: put first after the route name, it types the
 * handler's `ctx.body` and `ctx.params` like a route spec does.
 */
export interface Validator<S extends ValidateOptions = ValidateOptions> extends Middleware {
  readonly spec: S
}

/** Whose bucket a request takes from: its connection's, its user's (across connections), its IP's, or a key you compute. */
export type RateLimitBy = 'connection' | 'user' | 'ip' | ((ctx: Context) => string | undefined)

/** Options of `rateLimit()`. */
export interface RateLimitOptions {
  /** Burst size: requests allowed at once from a full bucket (default 100). */
  capacity?: number
  /** Sustained rate, requests per second (default 50). */
  refillPerSecond?: number
  /**
   * Bucket per connection (default), per user (`userKey()`; anonymous clients fall back to their
   * connection), per IP, or per key from a function (undefined: the connection's).
   */
  by?: RateLimitBy
  /**
   * Rejected requests owed before the connection is closed with 1008: each rejection takes the bucket
   * one token further into debt, so only a client that keeps sending past its limit gets there
   * (default 2 × capacity; Infinity never closes).
   */
  closeAfter?: number
  /** Tokens a request takes (default 1 for all). */
  cost?: (ctx: Context) => number
}

/**
 * The middleware the core installs by itself, handed to the app when it is made: the default rate
 * limit, the `timeout` option's deadline, and the check of a route spec's body and params. The core
 * owns this seam and imports no middleware; the package entry (index.ts) wires the bundled ones.
 */
export interface BuiltIns {
  /** The per-connection limiter installed first unless `rateLimit: false` (it may `attach` to the app). */
  rateLimit(options: RateLimitOptions): Middleware
  /** A deadline of `ms` for every request (the `timeout` option), answered TIMEOUT past it. */
  timeout(ms: number): Middleware
  /** Checks a route spec's body and params, answered VALIDATION_FAILED when they do not parse. */
  validate(spec: ValidateOptions): Middleware
}
