import type { Logger } from 'pino'
import type { Adapter } from './adapters/adapter'
import type { HealthOptions } from './health'
import type { MetricsOptions } from './metrics'
import type { Codec } from './protocol'
import type { ResumeOptions } from './resume'
import type { GuardOptions } from './security/guard'
import type { RateLimitOptions } from './built-ins'

/** Options of `talk()`; every one has a default (the handshake defences are GuardOptions; see docs/operations.md). */
export interface TalkOptions extends GuardOptions {
  /** Logger for the app and `ctx.log` (default: pino at `LOG_LEVEL` or info). */
  logger?: Logger
  /** Adapter carrying pushes and presence between nodes (default: in-memory, one node). */
  adapter?: Adapter
  /** Largest frame accepted, in bytes; bigger ones close the connection with 1009 (default 1 MiB). */
  maxPayload?: number
  /** Interval between ws pings, in ms; a peer silent for two intervals is terminated (default 30000; 0 turns it off). */
  heartbeatInterval?: number
  /**
   * Unsent bytes of earlier frames past which a connection's reader must keep taking them (default
   * 4 MiB): while over it, a reader whose backlog did not shrink in a whole second is closed with 4900
   * as a slow consumer; over 4 × it, at once. The frame being written never counts.
   */
  maxBufferedBytes?: number
  /** Largest success reply sent, in bytes; a bigger one is not written, the request is answered PAYLOAD_TOO_LARGE (default 16 MiB). */
  maxReplyBytes?: number
  /**
   * Requests one connection starts in one event-loop turn before it yields to I/O and other
   * connections, continuing in a setImmediate (default 256; `maxTurnMs` usually ends a turn first). See
   * docs/operations.md, fairness.
   */
  maxRequestsPerTurn?: number
  /**
   * Time one connection's requests may take in one event-loop turn before it yields, in ms, measured
   * from their start times (default 2; the request running when it passes finishes first).
   */
  maxTurnMs?: number
  /** Requests one connection may have waiting beyond those running; past it, RATE_LIMITED (default 256). */
  maxQueue?: number
  /** Requests of one connection handled at once (default 1: in arrival order). */
  concurrency?: number
  /** How long `close()` waits for in-flight requests before closing sockets, in ms (default 10000). */
  closeTimeout?: number
  /** Push `presence:join` / `presence:leave` to a room's other members when a client joins or leaves it (default false). */
  presenceEvents?: boolean
  /** Frame codec (default JSON). */
  codec?: Codec
  /** Makes client ids (default `crypto.randomUUID`). */
  generateId?: () => string
  /**
   * Keep a client's session (id, rooms, state, missed pushes, recent replies) for a while after its
   * socket drops without a close frame, so a TalkClient resumes it (default off; `true` uses the
   * defaults of ResumeOptions: 2-minute window, 5-second presence grace). See docs/client.md.
   */
  resume?: boolean | ResumeOptions
  /** Containers nested in one frame at most, the frame counted; deeper frames are answered BAD_REQUEST (default 32). */
  maxDepth?: number
  /** Keys plus array elements in one frame at most; more are answered BAD_REQUEST (default 20000). */
  maxElements?: number
  /**
   * Per-connection token bucket installed as the app's first middleware (default
   * `{ capacity: 1000, refillPerSecond: 200 }`; past it RATE_LIMITED, far past it close 1008); false: none.
   */
  rateLimit?: RateLimitOptions | false
  /** A deadline for every request in ms, answered TIMEOUT past it (default false: none; about 1.3 µs per request). */
  timeout?: number | false
  /** Unsent bytes past which a push sent `{ droppable: true }` or `{ coalesce }` skips that client (default maxBufferedBytes / 4). */
  dropThreshold?: number
  /**
   * Parse every reply against its route's `reply` schema before it is written (unknown keys are
   * stripped; a mismatch answers INTERNAL and logs the issues). Default true; false skips the check.
   */
  validateReplies?: boolean
  /** Prometheus metrics in a registry of the app's own, served at `/metrics` by `listen()` (default off). */
  metrics?: boolean | MetricsOptions
  /** Liveness (`/healthz`) and readiness (`/readyz`, 503 while draining) endpoints served by `listen()` (default off). */
  health?: boolean | HealthOptions
}

/** Options of `close()`. */
export interface CloseOptions {
  /** Close code sent to every client (default 1001 going away; 1012 service restart when a replacement is coming). */
  code?: number
  /** Close reason (default `server shutting down`). */
  reason?: string
  /**
   * Spread the closes over this many ms, each client at a random moment in the window, so they do not
   * all reconnect at once (default 0). A client is served as usual until its moment.
   */
  jitterMs?: number
}

/** The rate limit every app gets unless `rateLimit` says otherwise: generous for people, a wall for floods. */
export const DEFAULT_RATE_LIMIT: Readonly<RateLimitOptions> = Object.freeze({ capacity: 1000, refillPerSecond: 200 })

/** Options of `attach()`. */
export interface AttachOptions {
  /** Only upgrades to this path are Talk's (default: every path). */
  path?: string
}

/** What `listen()` resolves with. */
export interface Listening {
  port: number
  /** A ws:// URL for the loopback address. */
  url: string
}
