import type { Logger } from 'pino'
import type { Context } from './context'
import type { Client, PresenceEntry } from './types'

/** App lifecycle events and their listener arguments. */
export interface TalkEvents {
  connection: [client: Client]
  /** A parked session was taken over by a new socket (resume): the client never left, so no `connection`. */
  resume: [client: Client]
  disconnect: [client: Client, code: number, reason: string]
  /** A client is listed in a room: it joined, or a session that had left presence resumed. */
  join: [client: Client, room: string]
  /** A client is no longer listed in a room: it left, ended, or is parked past its presence grace. */
  leave: [client: Client, room: string]
  /**
   * A member of a room on another node is gone without leaving: its node stopped renewing its lease
   * (crashed or cut off) and the adapter cleaned it up. Its own node, being gone, told no one.
   */
  lost: [room: string, member: PresenceEntry]
  /**
   * A request was refused (answered RATE_LIMITED, no route ran) because its connection already had
   * `maxQueue` requests waiting. `ctx` is that request, already answered; the bundled rate limiter
   * counts it toward its flood close.
   */
  overflow: [ctx: Context]
  /** An unexpected error: a handler's non-TalkError, a failing hook or listener. */
  error: [err: unknown, ctx: Context | undefined]
}

/** A listener of one app event. */
export type Listener<E extends keyof TalkEvents> = (...args: TalkEvents[E]) => unknown

/**
 * The app's event listeners. A listener that throws (or rejects) is logged and reported as an
 * `error` event, never fatal; a failing `error` listener is only logged.
 */
export class Events {
  private readonly listeners = new Map<keyof TalkEvents, Set<(...args: never[]) => unknown>>()

  constructor(private readonly log: Logger) {}

  /** Adds a listener. */
  on<E extends keyof TalkEvents>(event: E, listener: Listener<E>): void {
    let set = this.listeners.get(event)
    if (set === undefined) this.listeners.set(event, (set = new Set()))
    set.add(listener as (...args: never[]) => unknown)
  }

  /** Removes a listener. */
  off<E extends keyof TalkEvents>(event: E, listener: Listener<E>): void {
    this.listeners.get(event)?.delete(listener as (...args: never[]) => unknown)
  }

  /** Whether the event has a listener. */
  has(event: keyof TalkEvents): boolean {
    const set = this.listeners.get(event)
    return set !== undefined && set.size > 0
  }

  /** Calls every listener of an event with its arguments. */
  emit<E extends keyof TalkEvents>(event: E, ...args: TalkEvents[E]): void {
    const set = this.listeners.get(event)
    if (set === undefined) return
    for (const listener of set) {
      try {
        const result = (listener as (...a: TalkEvents[E]) => unknown)(...args)
        if (result instanceof Promise) result.catch((err: unknown) => this.failed(event, err))
      } catch (err) {
        this.failed(event, err)
      }
    }
  }

  private failed(event: keyof TalkEvents, err: unknown): void {
    logSafely(this.log.child({ event }), 'error', err, 'event listener failed')
    if (event !== 'error') this.emit('error', err, undefined)
  }
}

/**
 * Logs an error; a thrown value whose serialisation itself throws (getters that throw, a hostile
 * toJSON) is logged as a description instead, so reporting a fault can never become one.
 */
export function logSafely(log: Logger, level: 'warn' | 'error', err: unknown, message: string): void {
  try {
    log[level]({ err }, message)
  } catch {
    log[level]({ err: { type: typeof err, message: 'the thrown value could not be serialised' } }, message)
  }
}
