import { match, type MatchFunction } from 'path-to-regexp'
import type { Handler, Middleware, Params, RouteContext, RouteSpec } from './types'
import type { Validator } from '../middleware/validate'

/** Middleware with the pattern (full slash-form name) it is scoped to, if any. */
export interface ScopedMiddleware {
  pattern: string | undefined
  fn: Middleware
}

/** One route as the app compiles it: full name, spec, the middleware that may apply, and the handler. */
export interface RouteDefinition {
  /** Slash-form name or pattern, e.g. `document/get` or `document/:id/nodes`. */
  name: string
  spec: RouteSpec | undefined
  /** Router-level (possibly scoped) then route-level middleware, outermost first. */
  middleware: ScopedMiddleware[]
  /** How many of the last entries of `middleware` are the route's own (spec validation goes before them). */
  own: number
  handler: Handler
}

/**
 * Normalises a name or pattern as registered: a `:` that follows a word character is a
 * separator (`document:get` → `document/get`); a `:` after a slash starts a parameter.
 * Throws a TypeError for empty names and empty segments.
 */
export function registeredName(name: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError('A route name must be a non-empty string')
  const slashed = name.replace(/([^/]):/g, '$1/')
  if (slashed.startsWith('/') || slashed.endsWith('/') || slashed.includes('//')) {
    throw new TypeError(`Route name "${name}" has an empty segment`)
  }
  return slashed
}

/** Joins a mount prefix and a name: `document` + `get` → `document/get`. */
export function joinName(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}/${name}`
}

/** Whether a registered name is a pattern (parameters, wildcards, optional groups) rather than a static name. */
export function isPattern(name: string): boolean {
  return /(^|\/)[:*]/.test(name) || /[{}()?+!\\]/.test(name)
}

/** Compiles a path-to-regexp matcher with Talk's rules: exact, case-sensitive, no decoding, no trailing slash. */
export function compileMatcher(pattern: string): MatchFunction<Params> {
  return match<Params>(pattern, { decode: false, sensitive: true, trailing: false, end: true })
}

/** A group of routes and middleware, mountable under a prefix: `app.use('document', router)`. */
export class Router {
  private readonly routes: RouteDefinition[] = []
  private readonly middleware: ScopedMiddleware[] = []
  private readonly mounts: { prefix: string; router: Router }[] = []
  private readonly parents = new Set<Router>()

  /**
   * Adds middleware for this router's routes (all of them, or those whose name matches a
   * path-to-regexp pattern such as `document/*rest`), or mounts a router under a prefix.
   * Middleware registered with `use()` runs before any route's own middleware, in registration order.
   */
  use(fn: Middleware): this
  use(pattern: string, fn: Middleware | Router): this
  use(first: string | Middleware, second?: Middleware | Router): this {
    if (typeof first === 'function' && second === undefined) {
      this.middleware.push({ pattern: undefined, fn: first })
    } else if (typeof first === 'string' && second instanceof Router) {
      if (second === this || second.contains(this)) throw new TypeError('A router cannot be mounted inside itself')
      const prefix = registeredName(first)
      this.checkName(prefix)
      this.mounts.push({ prefix, router: second })
      second.parents.add(this)
    } else if (typeof first === 'string' && typeof second === 'function') {
      const pattern = registeredName(first)
      compileMatcher(pattern) // a bad pattern is a start-up TypeError, never a per-message one
      this.middleware.push({ pattern, fn: second })
    } else {
      throw new TypeError('use() takes a middleware, a pattern and a middleware, or a prefix and a Router')
    }
    this.changed()
    return this
  }

  /** Refuses a name this router may not register (a route, or a mount prefix); the app reserves `talk/`. */
  protected checkName(_name: string): void {}

  /**
   * Registers a route: `route(name, ...middleware, handler)`, or `route(name, spec, ...middleware, handler)`
   * where `spec` holds zod schemas that check the body and params (VALIDATION_FAILED) and type the handler;
   * a `validate({ body })` middleware right after the name types the handler the same way.
   */
  route<S extends RouteSpec>(name: string, validator: Validator<S>, ...handlers: [...Middleware<RouteContext<S>>[], Handler<RouteContext<S>>]): this
  route<S extends RouteSpec>(name: string, spec: S, ...handlers: [...Middleware<RouteContext<S>>[], Handler<RouteContext<S>>]): this
  route(name: string, ...handlers: [...Middleware[], Handler]): this
  route(name: string, ...rest: unknown[]): this {
    const normalised = registeredName(name)
    this.checkName(normalised)
    let spec: RouteSpec | undefined
    if (rest.length > 1 && typeof rest[0] === 'object' && rest[0] !== null) {
      spec = rest.shift() as RouteSpec
    }
    const handler = rest.pop()
    if (typeof handler !== 'function') throw new TypeError(`Route "${name}" needs a handler function`)
    for (const fn of rest) {
      if (typeof fn !== 'function') throw new TypeError(`Route "${name}": middleware must be functions`)
    }
    if (isPattern(normalised)) compileMatcher(normalised)
    else if (this.routes.some((r) => r.name === normalised)) throw new TypeError(`Route "${normalised}" is already registered`)
    const own = (rest as Middleware[]).map((fn) => ({ pattern: undefined, fn }))
    this.routes.push({ name: normalised, spec, middleware: own, own: own.length, handler: handler as Handler })
    this.changed()
    return this
  }

  /** Every route of this router and its mounted routers, with full names under `prefix`. */
  definitions(prefix = ''): RouteDefinition[] {
    const scoped = (pattern: string | undefined): string | undefined =>
      pattern === undefined ? undefined : joinName(prefix, pattern)
    const mine = this.middleware.map((m) => ({ pattern: scoped(m.pattern), fn: m.fn }))
    const out: RouteDefinition[] = this.routes.map((r) => ({
      name: joinName(prefix, r.name),
      spec: r.spec,
      middleware: [...mine, ...r.middleware],
      own: r.own,
      handler: r.handler,
    }))
    for (const { prefix: sub, router } of this.mounts) {
      for (const r of router.definitions(joinName(prefix, sub))) {
        out.push({ ...r, middleware: [...mine, ...r.middleware] })
      }
    }
    return out
  }

  /** This router's own `use()` middleware, outermost first. */
  protected ownMiddleware(): ScopedMiddleware[] {
    return this.middleware.slice()
  }

  /** Called whenever this router or a router mounted in it changes. */
  protected changed(): void {
    for (const parent of this.parents) parent.changed()
  }

  private contains(other: Router): boolean {
    return this.mounts.some((m) => m.router === other || m.router.contains(other))
  }
}

/** A compiled route table: static names in a Map, patterns tried in registration order. */
export interface RouteTable<T> {
  statics: Map<string, T>
  patterns: { test: MatchFunction<Params>; value: T }[]
}

/** Shared, frozen params for static routes, so a static match allocates nothing. */
export const EMPTY_PARAMS: Params = Object.freeze({}) as Params

/** Finds the entry for a slash-form name: O(1) for static names, then patterns in order. */
export function lookup<T>(table: RouteTable<T>, name: string): { value: T; params: Params } | undefined {
  const found = table.statics.get(name)
  if (found !== undefined) return { value: found, params: EMPTY_PARAMS }
  for (const { test, value } of table.patterns) {
    const result = test(name)
    if (result !== false) return { value, params: result.params }
  }
  return undefined
}
