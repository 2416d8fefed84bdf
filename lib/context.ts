import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { z } from 'zod'
import { EncodedReply } from './encoded-reply'
import { TalkError } from './errors'
import type { Ref } from './protocol'
import type { Publication } from './store/store'
import type { Client, ClientState, GlobalState, Locals, Params, PresenceEntry, PushOptions, PushPayloadOf } from './types'

/** Where a context's reply goes: a socket connection or an HTTP response. */
export interface Responder {
  /** Sends the success reply of `ctx`, once; throws, having sent nothing, when the payload cannot be encoded. */
  success(ctx: Context, payload: object | undefined): void
  /** Sends the error reply of `ctx`, once. */
  failure(ctx: Context, err: unknown): void
}

/** How a push travels, beyond its rooms: droppable for slow consumers, and the trace context of the request that caused it. */
export interface PublishOptions {
  /** Skip clients whose unsent bytes are past the app's `dropThreshold` instead of queueing for them. */
  droppable?: boolean
  /** Like droppable, but the latest skipped push with this key is sent once the client catches up. */
  coalesce?: string
  /** W3C `traceparent` added to the push frame. */
  traceparent?: string
}

/** Where a context keeps its handler's promise while the handler runs (the app's bookkeeping, not for apps). */
export const RUNNING_HANDLER = Symbol('talk.runningHandler')

/** Numbers each request's log lines (`req`), unique in this process. */
let requests = 0

/** What a context needs of the app that made it. */
export interface ContextHost {
  readonly global: GlobalState
  readonly log: Logger
  join(client: Client, room: string): void
  leave(client: Client, room: string): void
  /** Pushes to the members of one or more rooms, each member once, except the client `except`. */
  publish(rooms: string | readonly string[], name: string, payload: object | undefined, except: string | undefined, options?: PublishOptions): void
  presence(room: string): Promise<PresenceEntry[]>
  /** Encodes a push for a store to publish with a write (see `RoomTarget.prepare`). */
  prepare(rooms: string | readonly string[], name: string, payload: object | undefined, except: string | undefined, after: (() => void) | undefined, options?: PublishOptions): PreparedPush
}

/**
 * A push encoded ahead of a store write, so the store can publish it in the same atomic step:
 * across nodes, pushes of one key then reach every client in the order of the writes
 * (docs/scaling.md, "Ordered pushes").
 */
export interface PreparedPush {
  /**
   * What the store's `update` publishes with its write (its `publish` option); undefined when the
   * adapter has no shared channel (the in-memory adapter: one node, where order holds anyway).
   */
  readonly publication: Publication | undefined
  /**
   * Call once the store wrote; resolves once the push was delivered here and its `after` ran (it
   * rejects with what `after` threw). With a publication the store published, every node, this
   * one too, delivers the push as it comes off the channel, and `after` runs right then, before
   * any later push reaches this node's clients; without one it goes here and to the other nodes
   * now, as `send` does, then `after` runs.
   */
  published(): Promise<void>
}

/** Pushes to one room: `ctx.to('document/1').send('node:create', node)`. */
export interface RoomTarget {
  /** Pushes `{ command: name, ...payload }` to the room's members (the sender excluded unless `includeSelf`); typed by `Pushes`. */
  send<N extends string>(name: N, payload?: PushPayloadOf<N>, options?: PushOptions): void
  /**
   * Prepares the push `{ command: name, ...payload }` for a store to publish with a write, in order
   * with the other writes of its key (the sender excluded unless `includeSelf`; never skipped for a
   * slow reader). `after` (the sender's reply) runs right after the push was delivered on this
   * node, so the sender sees its reply in the same order as the others see the pushes.
   *
   * @example
   * let push: PreparedPush | undefined
   * const doc = await store.update(key, change, {
   *   publish: (next) => (push = ctx.to(key).prepare('doc:changed', next, { after: () => ctx.reply({ doc: next }) })).publication,
   * })
   * if (push !== undefined) await push.published() // pushed, in write order, and replied
   * else ctx.to(key).send('doc:changed', doc), ctx.reply({ doc }) // a store that cannot publish: the usual way
   */
  prepare(name: string, payload?: object, options?: Pick<PushOptions, 'includeSelf'> & { after?: () => void }): PreparedPush
}

/**
 * Everything one message's middleware and handler see: the request, the client, state at
 * three lifetimes (client, app, message), the reply, and pushes to rooms.
 */
export class Context<Body = Record<string, unknown>, P = Params, Reply = object> {
  /** The route name in slash form, e.g. `document/get`. */
  readonly route: string
  /** The request's ref, echoed in the reply. */
  readonly ref: Ref | undefined
  /** The payload: the request minus `route`, `command` and `ref`; replaced by its parsed value when a schema checks it. */
  body: Body
  /** Parameters from the route pattern (`document/:id` → `{ id }`). */
  params: P
  /** The client that sent this message. */
  readonly client: Client
  /** Whether a reply (success or error) has been sent. */
  replied = false
  /** The error this request was answered with (thrown, or given to `ctx.fail`); undefined after a success. */
  failure: unknown = undefined
  /** When the message was dispatched to its chain, after any wait in the connection's queue (ms, `performance.now()` clock). */
  readonly startedAt: number

  /** The W3C `traceparent` the client sent with this request, if any (validated by decode). */
  traceparent: string | undefined = undefined

  /** The route's reply schema, when replies are checked against it before they are written. */
  replySchema: z.ZodType | undefined = undefined
  /** The handler's promise while it runs: set and cleared by the app's handler step. */
  ;[RUNNING_HANDLER]: Promise<void> | undefined = undefined

  private localsValue: Locals | undefined
  private logValue: Logger | undefined
  private spanValue: string | undefined

  constructor(
    private readonly host: ContextHost,
    private readonly responder: Responder,
    client: Client,
    route: string,
    ref: Ref | undefined,
    body: Body,
    params: P,
  ) {
    this.client = client
    this.route = route
    this.ref = ref
    this.body = body
    this.params = params
    this.startedAt = performance.now()
  }

  /** This client's state, kept for the connection's life. */
  get state(): ClientState {
    return this.client.state
  }

  /** App-wide state shared by every client of this node. */
  get global(): GlobalState {
    return this.host.global
  }

  /** Scratch space for this message only. */
  get locals(): Locals {
    return (this.localsValue ??= {})
  }

  /** A pino logger bound to this client id, route, ref, a request id `req`, and `trace_id`/`span_id` when the request carried a traceparent. */
  get log(): Logger {
    if (this.logValue !== undefined) return this.logValue
    const bindings: Record<string, unknown> = { client: this.client.id, route: this.route.length > 200 ? `${this.route.slice(0, 200)}…` : this.route, ref: this.ref, req: ++requests }
    const trace = this.traceparent
    if (trace !== undefined) {
      bindings.trace_id = trace.slice(3, 35)
      bindings.span_id = this.spanId
      bindings.parent_span_id = trace.slice(36, 52)
      bindings.trace_flags = trace.slice(53, 55)
    }
    return (this.logValue = this.host.log.child(bindings))
  }

  /**
   * The W3C trace context for what this request causes (pushes, calls you make): the client's trace id
   * with this request's own span id; undefined when the client sent no `traceparent`.
   */
  get outgoingTraceparent(): string | undefined {
    const trace = this.traceparent
    return trace === undefined ? undefined : `00-${trace.slice(3, 35)}-${this.spanId}-${trace.slice(53, 55)}`
  }

  /** This request's span id (16 hex digits), made on first use. */
  private get spanId(): string {
    return (this.spanValue ??= randomBytes(8).toString('hex'))
  }

  /** Options for a push caused by this request: droppable, and its trace context (undefined when there is nothing to say). */
  private pushOptions(options: PushOptions | undefined): PublishOptions | undefined {
    const traceparent = this.outgoingTraceparent
    if (traceparent === undefined && options?.droppable !== true && options?.coalesce === undefined) return undefined
    return { droppable: options?.droppable, coalesce: options?.coalesce, traceparent }
  }

  /**
   * Sends the success reply `{ "status": "success", ref, ...payload }`; an `EncodedReply` sends the
   * text kept from its first use. A second reply (or one after an error or a timeout was sent) is
   * dropped and logged, never sent: returns false then.
   */
  reply(payload?: Reply | EncodedReply<Reply & object>): boolean {
    if (this.replied) {
      this.log.warn('reply dropped: this request was already answered')
      return false
    }
    this.replied = true
    const checked = this.checkReply(payload)
    if (checked instanceof Error) {
      this.failure = checked
      this.responder.failure(this as Context, checked)
      return true
    }
    try {
      this.responder.success(this as Context, checked)
    } catch (err) {
      // A cycle, a BigInt, a throwing toJSON, a reply over maxReplyBytes (a TalkError): whatever the
      // transport, the request still gets its one reply.
      if (err instanceof TalkError) this.log.warn({ code: err.code, message: err.message }, 'reply not sent')
      else this.log.error({ err }, 'reply payload could not be encoded')
      this.failure = err
      this.responder.failure(this as Context, err)
    }
    return true
  }

  /**
   * The payload as it may be sent: a plain object (or nothing), parsed by the route's reply schema
   * when it has one. A programmer's mistake comes back as an Error (answered INTERNAL), logged here.
   */
  private checkReply(payload: unknown): object | undefined | Error {
    if (payload instanceof EncodedReply) return this.checkEncoded(payload)
    if (payload !== undefined && !isPlainObject(payload)) {
      const err = new Error(`The reply of route "${this.route}" must be a plain object or nothing, not ${describe(payload)}`)
      this.log.error({ err }, 'reply is not a plain object')
      return err
    }
    const schema = this.replySchema
    if (schema === undefined) return payload as object | undefined
    const parsed = schema.safeParse(payload ?? {})
    if (parsed.success) return parsed.data as object
    return this.mismatch(parsed.error.issues)
  }

  /** An encoded reply is parsed by the route's reply schema once (lib/encoded-reply.ts): later replies send its kept text. */
  private checkEncoded(reply: EncodedReply): EncodedReply | Error {
    const schema = this.replySchema
    if (schema === undefined || reply.checkedWith(schema)) return reply
    const parsed = schema.safeParse(reply.value)
    if (!parsed.success) return this.mismatch(parsed.error.issues)
    reply.checked(schema, parsed.data as object)
    return reply
  }

  private mismatch(issues: readonly unknown[]): Error {
    const err = new Error(`The reply of route "${this.route}" does not match its reply schema`)
    this.log.error({ err, issues: issues.slice(0, 20) }, 'reply does not match the route\'s reply schema')
    return err
  }

  /** Sends an error reply for `err` (a TalkError, or anything else as INTERNAL); false if already answered. */
  fail(err: unknown): boolean {
    if (this.replied) return false
    this.replied = true
    this.failure = err
    this.responder.failure(this as Context, err)
    return true
  }

  /** Throws a TalkError: `ctx.throw('NOT_FOUND', 'No such document')`. */
  throw(code: string, message: string, details?: unknown): never {
    throw new TalkError(code, message, details)
  }

  /** Pushes `{ command: name, ...payload }` to this client only (with the request's trace context, if it had one). */
  send<N extends string>(name: N, payload?: PushPayloadOf<N>): void {
    this.client.push(name, payload, this.outgoingTraceparent)
  }

  /** Puts this client in a room. */
  join(room: string): void {
    this.host.join(this.client, room)
  }

  /** Takes this client out of a room. */
  leave(room: string): void {
    this.host.leave(this.client, room)
  }

  /** Pushes to every room this client is in, each member once (the sender excluded unless `includeSelf`). */
  broadcast<N extends string>(name: N, payload?: PushPayloadOf<N>, options?: PushOptions): void {
    const rooms = this.client.rooms
    if (rooms.size === 0) return
    const except = options?.includeSelf === true ? undefined : this.client.id
    this.host.publish(rooms.size === 1 ? rooms.values().next().value as string : [...rooms], name, payload, except, this.pushOptions(options))
  }

  /** A target for pushes to one room. */
  to(room: string): RoomTarget {
    return {
      send: (name, payload, options) => {
        this.host.publish(room, name, payload, options?.includeSelf === true ? undefined : this.client.id, this.pushOptions(options))
      },
      prepare: (name, payload, options) =>
        this.host.prepare(room, name, payload, options?.includeSelf === true ? undefined : this.client.id, options?.after, this.pushOptions(undefined)),
    }
  }

  /** Who is in a room, across every node the adapter reaches. */
  presence(room: string): Promise<PresenceEntry[]> {
    return this.host.presence(room)
  }
}

/** Whether a value is an object literal (or made with a null prototype): what a reply payload may be. */
function isPlainObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** Names a value for a programmer's error message: `a string`, `an array`, `a Map`. */
function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return `a ${(value as object).constructor?.name ?? 'object'}`
  return `${/^[aeiou]/.test(typeof value) ? 'an' : 'a'} ${typeof value}`
}
