import type { Context } from '../lib/context'
import { TalkError } from '../lib/errors'
import type { Client, Locals, Middleware } from '../lib/types'

/** What `.get()` needs of a context (any route's typed context fits). */
export interface MessageLocals {
  readonly locals: Locals
  readonly route: string
}

/** Per-connection caching of what `loadState()` loaded. */
export interface LoadStateCache {
  /** Entries kept per connection (distinct ids), oldest dropped first (default 16). */
  max?: number
  /**
   * The current version of the thing `id` names (a revision number, an updated-at): a cached value
   * whose version differs is loaded again. Called per message, so keep it cheap. Default: none.
   */
  version?: (ctx: Context, id: string) => unknown
}

/** Options of `loadState()`. */
export interface LoadStateOptions<T> {
  /**
   * Loads the state for a message (async allowed): the document the client has open, the record
   * the body names… `undefined` or `null` means there is none.
   */
  load: (ctx: Context, id: string) => T | undefined | null | Promise<T | undefined | null>
  /**
   * What to load, read from the message or the client (e.g. `(ctx) => ctx.state.document`).
   * `undefined` answers `BAD_REQUEST` with `missing` when the state is required. Default: one
   * thing per connection (the id is `''`).
   */
  id?: (ctx: Context) => string | undefined
  /** `ctx.locals` key the value goes to (default `loaded`); `.get(ctx)` reads it typed. */
  key?: string
  /** Answer when nothing is found: `NOT_FOUND` / `BAD_REQUEST` (default true); false lets the handler see `undefined`. */
  required?: boolean
  /** BAD_REQUEST message when `id` gives nothing (default "Nothing to load for this request"). */
  missing?: string
  /** NOT_FOUND message when `load` finds nothing (default `Not found: <id>`). */
  notFound?: string | ((id: string) => string)
  /** Keep loaded values per connection: `true`, or `{ max, version }`. Default false. */
  cache?: boolean | LoadStateCache
}

/** The middleware `loadState()` returns, with a typed reader and cache invalidation. */
export interface LoadState<T> extends Middleware {
  /** The value loaded for this message; throws a plain Error when the middleware did not run on it. */
  get(ctx: MessageLocals): T
  /** The value loaded for this message, or undefined (not required and nothing found, or not run). */
  peek(ctx: MessageLocals): T | undefined
  /**
   * Forgets cached values: one client's entry for `id`, all of one client's entries (no `id`), or
   * every client's (no arguments), e.g. after the document was changed or deleted.
   */
  invalidate(client?: Client, id?: string): void
}

interface Entry<T> {
  value: T
  version: unknown
  generation: number
}

/**
 * Loads the state a handler works on before it runs and puts it on `ctx.locals[key]` (read it typed
 * with `.get(ctx)`). Required state that is missing answers `BAD_REQUEST` (no id) or `NOT_FOUND`
 * (nothing under the id). With `cache`, values are kept per connection until `invalidate()` or a
 * changed `version`.
 *
 * @example
 * const currentDocument = loadState({ key: 'document', id: (ctx) => ctx.state.document as string | undefined,
 *   load: (_ctx, id) => docs.get(id), missing: 'Open a document first' })
 * app.route('node/create', currentDocument, (ctx) => addNode(currentDocument.get(ctx), ctx.body))
 */
export function loadState<T>(options: LoadStateOptions<T>): LoadState<T> {
  if (options === null || typeof options !== 'object') throw new TypeError('loadState() takes an options object')
  const { load, id: idOf, key = 'loaded', required = true, missing = 'Nothing to load for this request', notFound } = options
  if (typeof load !== 'function') throw new TypeError('loadState(): "load" must be a function (ctx, id) => value')
  if (idOf !== undefined && typeof idOf !== 'function') throw new TypeError('loadState(): "id" must be a function (ctx) => string | undefined')
  if (typeof key !== 'string' || key.length === 0) throw new TypeError('loadState(): "key" must be a non-empty string')
  if (typeof required !== 'boolean') throw new TypeError('loadState(): "required" must be a boolean')
  if (notFound !== undefined && typeof notFound !== 'string' && typeof notFound !== 'function') {
    throw new TypeError('loadState(): "notFound" must be a string or a function')
  }
  const cacheOptions: LoadStateCache | undefined = options.cache === true ? {} : options.cache === false ? undefined : options.cache
  if (cacheOptions !== undefined && (cacheOptions === null || typeof cacheOptions !== 'object')) {
    throw new TypeError('loadState(): "cache" must be a boolean or { max?, version? }')
  }
  const max = cacheOptions?.max ?? 16
  if (!Number.isInteger(max) || max < 1) throw new TypeError('loadState(): "cache.max" must be a positive integer')
  const version = cacheOptions?.version
  if (version !== undefined && typeof version !== 'function') throw new TypeError('loadState(): "cache.version" must be a function')

  // Per-connection caches, keyed by the client object so they go when it goes; `generation` makes
  // `invalidate()` with no client O(1): entries from an older generation are stale.
  const caches = cacheOptions === undefined ? undefined : new WeakMap<Client, Map<string, Entry<T>>>()
  let generation = 0

  const found = (ctx: Context, id: string, value: T | undefined | null, v: unknown): void => {
    if (value === undefined || value === null) {
      if (required) throw new TalkError('NOT_FOUND', typeof notFound === 'function' ? notFound(id) : notFound ?? `Not found: ${id.slice(0, 100)}`)
      return
    }
    ctx.locals[key] = value
    if (caches === undefined) return
    let cache = caches.get(ctx.client)
    if (cache === undefined) caches.set(ctx.client, (cache = new Map()))
    else if (cache.size >= max && !cache.has(id)) cache.delete(cache.keys().next().value as string)
    cache.set(id, { value, version: v, generation })
  }

  const middleware = function loadState(ctx: Context, next: () => Promise<void>): unknown {
    const id = idOf === undefined ? '' : idOf(ctx)
    if (id === undefined) {
      if (required) throw new TalkError('BAD_REQUEST', missing)
      return next()
    }
    let v: unknown
    if (caches !== undefined) {
      v = version === undefined ? undefined : version(ctx, id)
      const entry = caches.get(ctx.client)?.get(id)
      if (entry !== undefined && entry.generation === generation && entry.version === v) {
        ctx.locals[key] = entry.value
        return next()
      }
    }
    const value = load(ctx, id)
    // A synchronous loader keeps the message on the allocation-free path: no extra promise.
    if (value instanceof Promise) {
      return value.then((resolved: T | undefined | null) => {
        found(ctx, id, resolved, v)
        return next()
      })
    }
    found(ctx, id, value, v)
    return next()
  } as LoadState<T>

  middleware.get = (ctx) => {
    const value = ctx.locals[key]
    if (value === undefined) throw new Error(`loadState(): nothing loaded under "${key}" for route ${ctx.route}; is the middleware on this route?`)
    return value as T
  }
  middleware.peek = (ctx) => ctx.locals[key] as T | undefined
  middleware.invalidate = (client, id) => {
    if (caches === undefined) return
    if (client === undefined) generation++
    else if (id === undefined) caches.delete(client)
    else caches.get(client)?.delete(id)
  }
  return middleware
}
