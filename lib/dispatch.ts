import { SETTLED } from './compose'
import { Context, RUNNING_HANDLER, type Responder } from './context'
import type { Core } from './core'
import { TalkError } from './errors'
import { logSafely } from './events'
import type { Envelope } from './protocol'
import type { FanOut } from './rooms'
import { EMPTY_PARAMS, type CompiledRoutes } from './router'
import type { Client } from './types'

/**
 * Runs requests through their route's chain, from any transport (the socket, the REST bridge),
 * making sure each gets exactly one reply. The routes are compiled on first use and again after
 * the app's routes change (`invalidate`).
 */
export class Dispatcher {
  private routes: CompiledRoutes | undefined
  /** Routes whose chain was seen settling before its handler (a middleware dropped `next()`): logged once each. */
  private readonly droppedNext = new Set<string>()

  constructor(
    private readonly core: Core,
    private readonly fanOut: FanOut,
    private readonly compile: () => CompiledRoutes,
  ) {}

  /** Forgets the compiled routes: the next request compiles them again. */
  invalidate(): void {
    this.routes = undefined
  }

  /** Whether a request named `name` (slash form) would reach a route. */
  hasRoute(name: string): boolean {
    return (this.routes ??= this.compile()).table.match(name) !== undefined
  }

  /**
   * Runs one request through its route's chain and makes sure it gets exactly one reply through
   * `responder`. Never rejects; returns `SETTLED` when the chain ran to its end synchronously
   * (answered already).
   */
  handle(client: Client, responder: Responder, envelope: Envelope): Promise<void> {
    const routes = (this.routes ??= this.compile())
    const found = routes.table.match(envelope.name)
    const route = found === undefined ? routes.notFound : found.value
    const metrics = this.core.metrics
    const observed = metrics === undefined ? responder : metrics.observe(responder, route.label)
    const ctx = new Context(this.fanOut, observed, client, envelope.name, envelope.ref, envelope.body, found === undefined ? EMPTY_PARAMS : found.params)
    if (envelope.trace !== undefined) ctx.traceparent = envelope.trace
    if (route.reply !== undefined) ctx.replySchema = route.reply
    const running = route.chain(ctx)
    if (running !== SETTLED) return running.then(() => this.answered(ctx), (err: unknown) => this.failed(ctx, err))
    return this.answered(ctx)
  }

  /** A context for a request refused before any route ran (a full queue), answered already with `err`. */
  refused(client: Client & Responder, envelope: Envelope, err: TalkError): Context {
    const ctx = new Context(this.fanOut, client, client, envelope.name, envelope.ref, envelope.body, EMPTY_PARAMS)
    ctx.replied = true
    ctx.failure = err
    return ctx
  }

  /**
   * The chain has run to its end: a request nothing answered gets an empty success. When its handler
   * still runs and nothing answered, a middleware did not return or await `next()`: logged once per route, and the reply
   * waits for the handler rather than being lost.
   */
  private answered(ctx: Context): Promise<void> {
    const handler = ctx[RUNNING_HANDLER]
    // Answered already (a timeout, say): the handler was let go on purpose.
    if (handler !== undefined && !ctx.replied) {
      if (!this.droppedNext.has(ctx.route)) {
        this.droppedNext.add(ctx.route)
        ctx.log.error(`a middleware of route "${ctx.route}" did not return or await next(): the chain ended before the handler; return or await next()`)
      }
      return handler.then(() => this.answered(ctx), (err: unknown) => this.failed(ctx, err))
    }
    try {
      if (!ctx.replied) ctx.reply()
    } catch (err) {
      this.failed(ctx, err)
    }
    return SETTLED
  }

  /** Answers a request whose chain threw: a TalkError as itself, anything else as INTERNAL with its stack logged. */
  private failed(ctx: Context, err: unknown): void {
    if (!(err instanceof TalkError)) this.core.fault(err, ctx, 'request failed')
    if (!ctx.fail(err)) logSafely(ctx.log, 'warn', err, 'error after the reply was sent')
  }
}
