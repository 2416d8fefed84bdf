/** Messages between the runner, a server target and the load generator (child_process IPC). */

/** A target → runner: the server is listening on 127.0.0.1:`port`. */
export interface ReadyMessage {
  type: 'ready'
  port: number
}

/** Load generator → runner → target: report CPU and memory now, after a full GC when `gc`. */
export interface ProbeMessage {
  type: 'probe'
  id: number
  gc: boolean
}

/** A server process's resource figures at one instant. */
export interface ServerSample {
  /** `process.cpuUsage()` user + system, microseconds since the process started. */
  cpuMicros: number
  /** Resident set size, bytes. */
  rss: number
  /** V8 heap in use, bytes. */
  heapUsed: number
  /** Whether a full GC ran first (false when the target was started without `--expose-gc`). */
  gc: boolean
}

/** Target → runner → load generator: the answer to probe `id`. */
export interface ProbeResultMessage extends ServerSample {
  type: 'probe-result'
  id: number
}

/** Load generator → runner: the scenario finished. */
export interface ResultMessage {
  type: 'result'
  result: Measurement
}

/** Load generator → runner: the scenario could not run. */
export interface FailedMessage {
  type: 'failed'
  error: string
}

/** What one scenario run against one target measured. */
export interface Measurement {
  /** Metric key → value; the keys are the scenario's metric keys. */
  metrics: Record<string, number>
  /** Replies or pushes that failed a check; a run with any is not trusted. */
  errors: number
  /** The first few failed checks, for the report. */
  errorSamples: string[]
}

/** Narrows an IPC message to one of the shapes above by its `type`. */
export function isMessage<T extends { type: string }>(value: unknown, type: T['type']): value is T {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === type
}
