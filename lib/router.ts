import { match, type MatchFunction } from 'path-to-regexp'
import type { ZodType } from 'zod'
import type { ValidateOptions, Validator } from './built-ins'
import { compose, isThenable, SETTLED, type Chain } from './compose'
import { RUNNING_HANDLER, type Context } from './context'
import { TalkError } from './errors'
import type { Handler, Middleware, Params, RouteContext, RouteSpec } from './types'

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

/** What `RouteTable.match` finds: the value registered under the name or pattern, and the params it read. */
export interface RouteMatch<T> {
  readonly value: T
  readonly params: Params
}

/** Shared, frozen params for static routes, so a static match allocates nothing. */
export const EMPTY_PARAMS: Params = Object.freeze({}) as Params

/**
 * Names to values, added once and matched per message: static names in a Map (O(1), their match
 * made once), then patterns in the order they were added.
 */
export class RouteTable<T> {
  private readonly statics = new Map<string, RouteMatch<T>>()
  private readonly patterns: { test: MatchFunction<Params>; value: T }[] = []

  /** Adds a slash-form name or pattern; a static name added twice keeps its first value. */
  add(name: string, value: T): this {
    if (isPattern(name)) this.patterns.push({ test: compileMatcher(name), value })
    else if (!this.statics.has(name)) this.statics.set(name, Object.freeze({ value, params: EMPTY_PARAMS }))
    return this
  }

  /** Finds the entry for a slash-form name: its static one, else the first pattern that matches; undefined for none. */
  match(name: string): RouteMatch<T> | undefined {
    const found = this.statics.get(name)
    if (found !== undefined) return found
    for (const { test, value } of this.patterns) {
      const result = test(name)
      if (result !== false) return { value, params: result.params }
    }
    return undefined
  }
}

/** One route ready to run: its composed chain, the reply schema checked, and its metrics label. */
export interface CompiledRoute {
  chain: Chain<Context>
  /** The route's reply schema, when replies are checked (`validateReplies`). */
  reply: ZodType | undefined
  /** The registered name or pattern: the route's metrics label. */
  label: string
}

/** The routes of an app compiled: the table, and the chain a name no route matches runs. */
export interface CompiledRoutes {
  readonly table: RouteTable<CompiledRoute>
  readonly notFound: CompiledRoute
}

/** How `compileRoutes` builds each chain. */
export interface CompileOptions {
  /** Makes the middleware that checks a route spec's body and params (the app's BuiltIns). */
  validate(spec: ValidateOptions): Middleware
  /** Whether replies are parsed by their route's `reply` schema. */
  validateReplies: boolean
  /** The metrics label of requests no route matches. */
  unknownLabel: string
}

/**
 * Compiles every route once into its chain: the middleware that applies to it (scoped ones
 * filtered now for static names, guarded per message for patterns), the spec check before the
 * route's own middleware, then the handler. A name no route matches runs the app's own middleware,
 * then NOT_FOUND.
 */
export function compileRoutes(definitions: readonly RouteDefinition[], appMiddleware: readonly ScopedMiddleware[], options: CompileOptions): CompiledRoutes {
  const table = new RouteTable<CompiledRoute>()
  for (const def of definitions) {
    const reply = options.validateReplies ? def.spec?.reply : undefined
    table.add(def.name, { chain: compose<Context>(steps(def, options)), label: def.name, reply })
  }
  const notFound: Middleware = (ctx) => {
    throw new TalkError('NOT_FOUND', `Unknown route "${ctx.route.slice(0, 100)}"`)
  }
  return { table, notFound: { chain: compose<Context>([...applicable(appMiddleware, undefined), notFound]), label: options.unknownLabel, reply: undefined } }
}

function steps(def: RouteDefinition, options: CompileOptions): Middleware[] {
  const steps = applicable(def.middleware, def.name)
  if (def.spec?.body !== undefined || def.spec?.params !== undefined) {
    steps.splice(steps.length - def.own, 0, options.validate({ body: def.spec.body, params: def.spec.params }) as Middleware)
  }
  steps.push(handlerStep(def.handler))
  return steps
}

/** The middleware that applies to a route: scoped ones filtered now for static names, guarded per message for patterns. */
function applicable(middleware: readonly ScopedMiddleware[], name: string | undefined): Middleware[] {
  const steps: Middleware[] = []
  for (const { pattern, fn } of middleware) {
    if (pattern === undefined) steps.push(fn as Middleware)
    else if (name !== undefined && !isPattern(name)) {
      if (compileMatcher(pattern)(name) !== false) steps.push(fn as Middleware)
    } else steps.push(guard(pattern, fn))
  }
  return steps
}

function handlerStep(handler: Handler): Middleware {
  return function handle(ctx) {
    const result = handler(ctx)
    // A synchronous handler is answered here and now; a promise (or any thenable) once it settles.
    if (!isThenable(result)) {
      replyWith(ctx, result)
      return SETTLED
    }
    // Kept on the context while it runs, so the app can tell a chain that ended without its handler.
    const running = Promise.resolve(result).then(
      (value) => {
        ctx[RUNNING_HANDLER] = undefined
        replyWith(ctx, value)
      },
      (err: unknown) => {
        ctx[RUNNING_HANDLER] = undefined
        throw err
      },
    )
    ctx[RUNNING_HANDLER] = running
    return running
  }
}

/** A handler's return value becomes the reply (ctx.reply checks it is a plain object), unless it returned nothing or replied itself. */
function replyWith(ctx: Context, result: unknown): void {
  if (result !== undefined && !ctx.replied) ctx.reply(result as object)
}

function guard(pattern: string, fn: Middleware): Middleware {
  const test = compileMatcher(pattern)
  return function scoped(ctx, next) {
    return test(ctx.route) !== false ? fn(ctx, next) : next()
  }
}
