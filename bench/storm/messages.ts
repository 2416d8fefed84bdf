/** Messages between the storm runner, its servers and its load processes (child_process IPC). */

/** Server → runner: listening on 127.0.0.1:`port`; `cpuMicros` is its `process.cpuUsage()` (user + system) at that moment. */
export interface StormReadyMessage {
  type: 'storm-ready'
  port: number
  cpuMicros: number
}

/** Runner → server: stop taking connections (the listener closes, freeing the port) and close every client with 1012 within `jitterMs`. */
export interface StormDrainMessage {
  type: 'storm-drain'
  jitterMs: number
}

/** Runner → server: report CPU and memory now. */
export interface StormProbeMessage {
  type: 'storm-probe'
}

/** Server → runner: the answer to a probe. */
export interface StormProbeResultMessage {
  type: 'storm-probe-result'
  /** `process.cpuUsage()` user + system, µs since the process started. */
  cpuMicros: number
  /** Peak resident set size (VmHWM), bytes; NaN where /proc is missing. */
  peakRss: number
  /** Connections open now. */
  connections: number
}

/** Load → runner: every client of this process is welcomed and in its room. */
export interface StormConnectedMessage {
  type: 'storm-connected'
  clients: number
}

/** Runner → load: the room publishers (if this process has any) publish one push each. */
export interface StormPublishMessage {
  type: 'storm-publish'
}

/** Load → runner: every publish of this process was acknowledged (`status: success`). */
export interface StormPublishedMessage {
  type: 'storm-published'
  publishes: number
}

/** Load → runner: the storm is over for this process (every client back, or its deadline passed). */
export interface StormDoneMessage {
  type: 'storm-done'
  result: LoadResult
}

/** What one load process saw. */
export interface LoadResult {
  clients: number
  /** When each client that came back was welcomed and re-joined its room: epoch ms (performance.timeOrigin + now). */
  backAt: number[]
  /** When each client saw its first close after the storm began: epoch ms. */
  closedAt: number[]
  /** Clients whose one request after re-joining was answered with success. */
  requestsOk: number
  /** Pushes the members (publishers excluded) should have received, and did receive. */
  pushesExpected: number
  pushesReceived: number
  /** Pushes received twice by one client, or received by a publisher. */
  pushesUnexpected: number
  /** Closes seen by the clients, by code. */
  closeCodes: Record<string, number>
  /** Upgrades refused with an HTTP status, by status (503 …). */
  refusals: Record<string, number>
  /** Connection attempts refused at the TCP level (ECONNREFUSED: no server listening yet). */
  connRefused: number
  /** Reconnection attempts scheduled by the clients' backoff, summed. */
  attempts: number
  /** Clients whose re-join or request failed (a TalkError), with the first few reasons. */
  failures: number
  failureSamples: string[]
}

/** Narrows an IPC message by its `type`. */
export function isStormMessage<T extends { type: string }>(value: unknown, type: T['type']): value is T {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === type
}
