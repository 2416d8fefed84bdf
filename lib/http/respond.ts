import type { WireError } from '../errors'

/**
 * How the REST bridge writes a route's answers: Talk's envelope by default, or the bodies an older
 * API sent, so a migrated endpoint answers its old clients byte for byte. Statuses are unchanged:
 * the mapping's on success, the error code's on failure.
 */
export interface Respond {
  /** The JSON body of a success, from the reply's payload (`{}` when the handler sent none). */
  success(payload: Record<string, unknown>): unknown
  /** The JSON body of an error, from the error as the wire shows it (code, message, details) and its HTTP status. */
  error(error: WireError, status: number): unknown
}

/** Options of `legacy()`. */
export interface LegacyOptions {
  /** Send this field of the payload as the body (`'users'`: `{ users: [...] }` → `[...]`); default the whole payload. */
  field?: string
  /** The body of an error (default `{ error: message }`, as many Express APIs answer). */
  error?: (error: WireError, status: number) => unknown
}

/**
 * The answer shape of a typical Express JSON API: the handler's value as the body (or one field of
 * it, for an API that sent a bare array), and errors as `{ "error": message }` with their status.
 *
 * @example
 * bridge(app, { routes: { 'GET /api/users': { route: 'users/list', respond: legacy({ field: 'users' }) } } })
 */
export function legacy(options: LegacyOptions = {}): Respond {
  if (options === null || typeof options !== 'object') throw new TypeError('legacy() takes an options object')
  const { field, error } = options
  if (field !== undefined && (typeof field !== 'string' || field.length === 0)) throw new TypeError('legacy(): field must be a non-empty string')
  if (error !== undefined && typeof error !== 'function') throw new TypeError('legacy(): error must be a function')
  return {
    success: (payload) => (field === undefined ? payload : payload[field]),
    error: error ?? ((wire) => ({ error: wire.message })),
  }
}

/** Checks a `respond` option at start-up: an object with `success` and `error` functions. */
export function checkRespond(respond: unknown, where: string): Respond | undefined {
  if (respond === undefined) return undefined
  const shape = respond as Partial<Respond> | null
  if (shape === null || typeof shape !== 'object' || typeof shape.success !== 'function' || typeof shape.error !== 'function') {
    throw new TypeError(`bridge(): ${where} must be { success(payload), error(error, status) } (see legacy())`)
  }
  return shape as Respond
}
