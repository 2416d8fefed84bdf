import { colonName } from '../protocol'
import type { PushPayloadOf } from '../types'

/** What `onReconnect` and the `reconnected` event are told. */
export interface ReconnectInfo {
  /** The client id: the same as before when resumed, a new one otherwise. */
  client: string
  /** Whether the server resumed the session (rooms, state and every missed push kept). */
  resumed: boolean
}

/** Lifecycle events and what their listeners get. */
export interface ClientEvents {
  /** A connection got its welcome (the first one, and every reconnection). */
  open: ReconnectInfo
  /** The connection closed; `willReconnect` says whether the client tries again. */
  close: { code: number; reason: string; willReconnect: boolean }
  /** A reconnection attempt is scheduled in `delay` ms. */
  reconnecting: { attempt: number; delay: number }
  /** A reconnection succeeded; `resumed` false means a new session: reload state. */
  reconnected: ReconnectInfo
  /** A push handler threw, a `send()` failed, or the server sent something unreadable. */
  error: unknown
}

/** A push's payload: the frame without `command`. */
export type PushPayload = Record<string, unknown>

/** Listens for a push: gets its payload (as declared in `Pushes`, when it is) and its name in colon form. */
export type PushHandler<N extends string = string> = (payload: PushPayloadOf<N, PushPayload>, name: string) => void

/** Any listener, as the emitter stores it: the event's or push's argument, then its name. */
export type AnyListener = (arg: never, name: string) => void

interface Listener {
  fn: AnyListener
  once: boolean
}

const EVENTS: ReadonlySet<string> = new Set<keyof ClientEvents>(['open', 'close', 'reconnecting', 'reconnected', 'error'])

/** The key a name is listened under: event names as they are, push names in colon form, so both spellings meet. */
export function listenerKey(name: string): string {
  return EVENTS.has(name) ? name : colonName(name)
}

/**
 * The client's listeners, for lifecycle events and pushes alike. A listener that throws does not stop
 * the others: its error is emitted as `error`, and an `error` nobody listens for is reported to the
 * platform (`reportError`, else the console), never thrown into the socket's callback.
 */
export class Emitter {
  private readonly listeners = new Map<string, Listener[]>()

  /** Adds a listener for a name in either spelling (`once`: removed before its first call). TypeError on a bad name or handler. */
  add(name: string, fn: AnyListener, once: boolean): void {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('on() needs an event or push name')
    if (typeof fn !== 'function') throw new TypeError('on() needs a handler function')
    const key = listenerKey(name)
    const list = this.listeners.get(key)
    if (list === undefined) this.listeners.set(key, [{ fn, once }])
    else list.push({ fn, once })
  }

  /** Removes every registration of `fn` for a name in either spelling. */
  remove(name: string, fn: AnyListener): void {
    const key = listenerKey(name)
    const list = this.listeners.get(key)
    if (list === undefined) return
    const rest = list.filter((l) => l.fn !== fn)
    if (rest.length === 0) this.listeners.delete(key)
    else this.listeners.set(key, rest)
  }

  /** Whether anyone listens under this key (an event name, or a push name in colon form). */
  has(key: string): boolean {
    return this.listeners.has(key)
  }

  /** Calls the listeners of a key (an event name, or a push name in colon form) with `arg`. */
  emit(key: string, arg: unknown): void {
    const list = this.listeners.get(key)
    if (list === undefined || list.length === 0) {
      if (key === 'error') report(arg)
      return
    }
    if (list.some((l) => l.once)) {
      const rest = list.filter((l) => !l.once)
      if (rest.length === 0) this.listeners.delete(key)
      else this.listeners.set(key, rest)
    }
    for (const { fn } of list) {
      try {
        fn(arg as never, key)
      } catch (err) {
        if (key === 'error') report(err)
        else this.emit('error', err)
      }
    }
  }
}

/** Last resort for an error nobody listens for: the platform's reportError, else the console. */
function report(err: unknown): void {
  const reportError = (globalThis as { reportError?: (err: unknown) => void }).reportError
  if (typeof reportError === 'function') reportError(err)
  else console.error('TalkClient:', err)
}
