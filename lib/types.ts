import type { z } from 'zod'
import type { Context } from './context'

/**
 * Per-client state, kept for the connection's life (`ctx.state`). Apps describe theirs by
 * declaration merging: `declare module 'talk' { interface ClientState { document?: string } }`.
 */
export interface ClientState {
  [key: string]: unknown
}

/** App-wide state (`ctx.global`, `app.global`); extend it by declaration merging like ClientState. */
export interface GlobalState {
  [key: string]: unknown
}

/** Per-message scratch space (`ctx.locals`) for middleware to hand things to the handler. */
export interface Locals {
  [key: string]: unknown
}

/** Route parameters taken from a pattern such as `document/:id/nodes` (a wildcard `*rest` gives the raw rest, e.g. `a/b`). */
export type Params = Record<string, string>

/** What a middleware calls to run the rest of the chain. Call it at most once and await it. */
export type Next = () => Promise<void>

/**
 * A middleware, the one name for a step of a chain: `(ctx, next) => Promise<void> | void`. Return or
 * await `next()`, at most once. What it returns is waited for as `await` would: a promise, or any
 * thenable (a `PromiseLike`, such as another library's promise).
 */
export type Middleware<C = Context> = (ctx: C, next: Next) => Promise<void> | PromiseLike<void> | void

/** The reply payload type of a context (`Context<Body, Params, Reply>`). */
export type ReplyOfContext<C> = C extends Context<infer _Body, infer _Params, infer Reply> ? Reply : object

/**
 * What a handler may return: its reply payload, or nothing (it replied itself, or the empty
 * success is sent); `ctx.reply()`'s boolean is allowed so `(ctx) => ctx.reply(x)` reads naturally.
 */
export type HandlerResult<Reply> = PlainReply<Reply> | void | boolean | Promise<PlainReply<Reply> | void | boolean>

/** A route with no reply schema replies with a record (not any object: an array or a promise is not a payload). */
type PlainReply<Reply> = object extends Reply ? Record<string, unknown> : Reply

/**
 * A route handler. It may reply with `ctx.reply(payload)` or return the payload (a plain object;
 * anything else is answered INTERNAL and logged); when it does neither, `{ "status": "success" }`
 * is sent once the chain completes.
 */
export type Handler<C = Context> = (ctx: C) => HandlerResult<ReplyOfContext<C>>

/**
 * Push payloads by name (colon form), for typed pushes on both ends: `ctx.to(room).send(name, payload)`,
 * `app.to(room).send`, `ctx.send`, `ctx.broadcast` and the client's `on(name, handler)`. Empty until an
 * app declares its pushes by declaration merging; an undeclared name stays untyped.
 *
 * @example
 * declare module 'talk' {
 *   interface Pushes { 'room:said': { text: string; from: string } }
 * }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface Pushes {}

/** A name in colon form (`room/said` → `room:said`). */
export type PushName<N extends string> = N extends `${infer Head}/${infer Rest}` ? `${Head}:${PushName<Rest>}` : N

/** The payload a push named `N` carries: as declared in `Pushes`, or `Fallback` for an undeclared name. */
export type PushPayloadOf<N extends string, Fallback = object> = PushName<N> extends keyof Pushes ? Pushes[PushName<N>] : Fallback

/** A route's declared shape: zod schemas for its body, params and reply, used for validation and types. */
export interface RouteSpec {
  /** Checked against `ctx.body`; the parsed value replaces it. */
  body?: z.ZodType
  /** Checked against `ctx.params`; the parsed value replaces them. */
  params?: z.ZodType
  /** The reply payload: types handlers and typed clients, and every reply is parsed by it before it is written (`validateReplies`). */
  reply?: z.ZodType
}

/** A map of route names to their specs, shared by server and typed client: `{ 'document/get': { body, reply } }`. */
export type RouteMap = Record<string, RouteSpec>

/** The body type a spec declares (after parsing), or a loose record when it declares none. */
export type BodyOf<S extends RouteSpec> = S['body'] extends z.ZodType ? z.output<S['body']> : Record<string, unknown>

/** The params type a spec declares, or the raw string params. */
export type ParamsOf<S extends RouteSpec> = S['params'] extends z.ZodType ? z.output<S['params']> : Params

/** The reply payload type a spec declares, or any object. */
export type ReplyOf<S extends RouteSpec> = S['reply'] extends z.ZodType ? z.input<S['reply']> : object

/** The context a route's handler sees, typed from its spec. */
export type RouteContext<S extends RouteSpec> = Context<BodyOf<S>, ParamsOf<S>, ReplyOf<S>>

/**
 * The authenticated user of a connection (`ctx.client.user`), set by a handshake hook or `auth`.
 * Apps describe theirs by declaration merging, like ClientState.
 */
export interface User {
  [key: string]: unknown
}

/** One member of a room as presence reports it. */
export interface PresenceEntry {
  /** The client id. */
  id: string
  user: User | undefined
}

/** Options for a push to a room. */
export interface PushOptions {
  /** Also deliver to the client whose request caused the push (default false). */
  includeSelf?: boolean
  /**
   * The push may be skipped, not queued, for a client that is behind on reading (unsent bytes past the
   * app's `dropThreshold`): for state that a later push makes stale (cursors, typing, progress). Counted in metrics.
   */
  droppable?: boolean
  /** Like `droppable`, but the latest skipped push with this key (e.g. `cursor:<user>`) is sent once the client catches up. */
  coalesce?: string
}

/** A connected client as handlers and middleware see it (`ctx.client`). */
export interface Client {
  /** Unique id, sent in the welcome frame. */
  readonly id: string
  /** Who this is, when a handshake hook or `auth` said so. */
  user: User | undefined
  /** This client's state, kept for the connection's life. */
  readonly state: ClientState
  /** The rooms this client is in. */
  readonly rooms: ReadonlySet<string>
  /** The handshake this client connected with. */
  readonly handshake: HandshakeInfo
  /** Pushes `{ command: name, ...payload }` to this client, with a W3C `traceparent` field when given. */
  push(name: string, payload?: object, traceparent?: string): void
  /** Closes the connection with a WebSocket close code (1000 by default). */
  close(code?: number, reason?: string): void
}

/** What a handshake hook can read of the HTTP upgrade request. */
export interface HandshakeInfo {
  /** Request headers, lower-case names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  /** Query parameters of the upgrade URL (first value of each). */
  readonly query: Readonly<Record<string, string>>
  /** Cookies sent with the upgrade request. */
  readonly cookies: Readonly<Record<string, string>>
  /**
   * The peer's address (no proxy headers are trusted), read from the socket on first use. Talk reads
   * it at the open when the app listens for `disconnect` or `leave` or has resume on; otherwise an address first
   * asked for after the socket closed is undefined.
   */
  readonly ip: string | undefined
  /** The upgrade URL's path. */
  readonly path: string
}
