import { nonNegative, optionalFunction, positive, positiveOrUnlimited } from '../checks'
import { CLOSE, isAppCloseCode } from '../errors'
import { BACKOFF_DEFAULTS, type BackoffOptions } from './backoff'
import type { ReconnectInfo } from './emitter'
import { heartbeatSettings, type HeartbeatOptions } from './heartbeat'

/** Reconnection after a connection that was open drops. */
export interface ReconnectOptions extends BackoffOptions {
  /** Attempts in a row before the client gives up and closes (default Infinity). */
  maxAttempts?: number
}

/** Options of a TalkClient; every one has a default. */
export interface ClientOptions {
  /** Default request timeout in ms, queue time included (default 10000; 0 waits forever). */
  timeout?: number
  /** Backoff for reconnecting, or false to close for good on the first drop (default: 500 ms doubling up to 10 s, forever). */
  reconnect?: ReconnectOptions | false
  /** Application-level heartbeat, or false for none (default: ping every 15 s, dead after 10 s of silence). */
  heartbeat?: HeartbeatOptions | false
  /** Requests kept while disconnected, sent once reconnected; past it they reject with DISCONNECTED (default 100). */
  maxQueue?: number
  /** Reject requests made while disconnected at once with DISCONNECTED instead of queueing them (default false). */
  failFast?: boolean
  /** How long one connection attempt may take until the welcome, in ms (default 10000). */
  connectTimeout?: number
  /** Ask the server to resume the session on reconnect, when it offered a resume token (default true). */
  resume?: boolean
  /**
   * Runs after every reconnection, before requests queued while disconnected are sent: re-open
   * documents when `resumed` is false. Requests it makes go out at once.
   */
  onReconnect?: (info: ReconnectInfo) => unknown
  /** Whether a close with this code should be followed by reconnection (default: not after 1000, 1002, 1003, 1007–1010, 4000–4899). */
  shouldReconnect?: (code: number, reason: string) => boolean
}

/** Client options checked and with their defaults filled in. */
export interface ClientSettings {
  readonly timeout: number
  readonly maxQueue: number
  readonly connectTimeout: number
  readonly failFast: boolean
  readonly resume: boolean
  readonly onReconnect: ((info: ReconnectInfo) => unknown) | undefined
  readonly shouldReconnect: (code: number, reason: string) => boolean
  /** Backoff and attempts with every default filled in, or false: no reconnection. */
  readonly reconnect: Readonly<Required<ReconnectOptions>> | false
  readonly heartbeat: Required<HeartbeatOptions> | false
}

/** The name option errors give: `TalkClient: timeout must be zero or more`. */
const OWNER = 'TalkClient'

/** Checks a client's options once, at construction, and fills in the defaults. TypeError on a bad value. */
export function clientSettings(options: ClientOptions): ClientSettings {
  if (options === null || typeof options !== 'object') throw new TypeError('TalkClient options must be an object')
  return {
    timeout: nonNegative('timeout', options.timeout ?? 10_000, OWNER),
    maxQueue: nonNegative('maxQueue', options.maxQueue ?? 100, OWNER),
    connectTimeout: positive('connectTimeout', options.connectTimeout ?? 10_000, OWNER),
    failFast: options.failFast ?? false,
    resume: options.resume ?? true,
    onReconnect: optionalFunction('onReconnect', options.onReconnect, OWNER),
    shouldReconnect: optionalFunction('shouldReconnect', options.shouldReconnect, OWNER) ?? defaultShouldReconnect,
    reconnect: reconnectSettings(options.reconnect),
    heartbeat: heartbeatSettings(options.heartbeat),
  }
}

function reconnectSettings(options: ReconnectOptions | false = {}): Readonly<Required<ReconnectOptions>> | false {
  if (options === false) return false
  const factor = options.factor ?? BACKOFF_DEFAULTS.factor
  if (!(factor >= 1)) throw new TypeError(`${OWNER}: reconnect.factor must be at least 1`)
  return {
    initialDelay: positive('reconnect.initialDelay', options.initialDelay ?? BACKOFF_DEFAULTS.initialDelay, OWNER),
    maxDelay: positive('reconnect.maxDelay', options.maxDelay ?? BACKOFF_DEFAULTS.maxDelay, OWNER),
    factor,
    maxAttempts: positiveOrUnlimited('reconnect.maxAttempts', options.maxAttempts ?? Infinity, OWNER),
  }
}

/** Close codes after which the client does not reconnect by default: goodbyes, protocol errors, policy, app codes. */
function defaultShouldReconnect(code: number): boolean {
  if (code === CLOSE.NORMAL || code === CLOSE.PROTOCOL_ERROR || code === CLOSE.UNSUPPORTED_DATA) return false
  if (code >= CLOSE.INVALID_DATA && code <= CLOSE.MISSING_EXTENSION) return false
  return !isAppCloseCode(code)
}
