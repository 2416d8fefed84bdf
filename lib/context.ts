import type { Logger } from 'pino'
import { TalkError } from './errors'
import type { Ref } from './protocol'
import type { Client, ClientState, GlobalState, Locals, Params, PresenceEntry, PushOptions } from './types'

/** Where a context's reply goes: a socket connection or an HTTP response. */
export interface Responder {
  /** Sends the success reply of `ctx`, once. */
  success(ctx: Context, payload: object | undefined): void
  /** Sends the error reply of `ctx`, once. */
  failure(ctx: Context, err: unknown): void
}

/** What a context needs of the app that made it. */
export interface ContextHost {
  readonly global: GlobalState
  readonly log: Logger
  join(client: Client, room: string): void
  leave(client: Client, room: string): void
  /** Pushes to the members of one or more rooms, each member once, except the client `except`. */
  publish(rooms: string | readonly string[], name: string, payload: object | undefined, except: string | undefined): void
  presence(room: string): Promise<PresenceEntry[]>
}

/** Pushes to one room: `ctx.to('document/1').send('node:create', node)`. */
export interface RoomTarget {
  /** Pushes `{ command: name, ...payload }` to the room's members (the sender excluded unless `includeSelf`). */
  send(name: string, payload?: object, options?: PushOptions): void
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
  /** When the message arrived (ms, `performance.now()` clock). */
  readonly startedAt: number

  private localsValue: Locals | undefined
  private logValue: Logger | undefined

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

  /** A pino logger bound to this client id, route and ref. */
  get log(): Logger {
    return (this.logValue ??= this.host.log.child({ client: this.client.id, route: this.route, ref: this.ref }))
  }

  /**
   * Sends the success reply `{ "status": "success", ref, ...payload }`. A second reply (or one after
   * an error or a timeout was sent) is dropped and logged, never sent: returns false then.
   */
  reply(payload?: Reply): boolean {
    if (this.replied) {
      this.log.warn('reply dropped: this request was already answered')
      return false
    }
    this.replied = true
    this.responder.success(this as Context, payload as object | undefined)
    return true
  }

  /** Sends an error reply for `err` (a TalkError, or anything else as INTERNAL); false if already answered. */
  fail(err: unknown): boolean {
    if (this.replied) return false
    this.replied = true
    this.responder.failure(this as Context, err)
    return true
  }

  /** Throws a TalkError: `ctx.throw('NOT_FOUND', 'No such document')`. */
  throw(code: string, message: string, details?: unknown): never {
    throw new TalkError(code, message, details)
  }

  /** Pushes `{ command: name, ...payload }` to this client only. */
  send(name: string, payload?: object): void {
    this.client.push(name, payload)
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
  broadcast(name: string, payload?: object, options?: PushOptions): void {
    const rooms = this.client.rooms
    if (rooms.size === 0) return
    const except = options?.includeSelf === true ? undefined : this.client.id
    this.host.publish(rooms.size === 1 ? rooms.values().next().value as string : [...rooms], name, payload, except)
  }

  /** A target for pushes to one room. */
  to(room: string): RoomTarget {
    const host = this.host
    const self = this.client.id
    return {
      send(name, payload, options) {
        host.publish(room, name, payload, options?.includeSelf === true ? undefined : self)
      },
    }
  }

  /** Who is in a room, across every node the adapter reaches. */
  presence(room: string): Promise<PresenceEntry[]> {
    return this.host.presence(room)
  }
}
