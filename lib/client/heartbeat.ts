import { positive } from '../checks'
import { PING_ROUTE } from '../protocol'

/** The client's application-level heartbeat (browsers cannot see WebSocket pings). */
export interface HeartbeatOptions {
  /** Milliseconds between pings (default 15000). */
  interval?: number
  /** Milliseconds after a ping with no frame at all from the server before the connection counts as dead (default 10000). */
  timeout?: number
}

/** The heartbeat a client runs where the options say nothing. */
export const HEARTBEAT_DEFAULTS: Readonly<Required<HeartbeatOptions>> = { interval: 15_000, timeout: 10_000 }

/** Checks heartbeat options once, at construction, and fills in the defaults; false stays false (no heartbeat). TypeError on a bad value. */
export function heartbeatSettings(options: HeartbeatOptions | false = {}): Required<HeartbeatOptions> | false {
  if (options === false) return false
  return {
    interval: positive('heartbeat.interval', options.interval ?? HEARTBEAT_DEFAULTS.interval, 'TalkClient'),
    timeout: positive('heartbeat.timeout', options.timeout ?? HEARTBEAT_DEFAULTS.timeout, 'TalkClient'),
  }
}

/** What the heartbeat needs from the connection it watches. */
export interface HeartbeatLink {
  /** Writes a frame to the open socket. */
  write(frame: string): void
  /** Pushes received in this session: a ping's `seen`, so the server forgets the pushes it kept for a resume. */
  seen(): number
  /** Every request up to this ref is settled: a ping's `done`, so the server forgets the replies it kept. */
  done(): number
  /** No frame came in time after a ping or probe: the socket is dead, `reason` says why. */
  silent(reason: string): void
}

/**
 * The liveness check of one welcomed connection at a time: every `interval` ms a ping, and when no
 * frame at all (a reply, a push, anything) follows within `timeout` ms, the link is reported silent.
 * `probe()` checks at once; the browser client paces the interval by page visibility.
 */
export class Heartbeat {
  private pingTimer: ReturnType<typeof setInterval> | undefined
  private deadTimer: ReturnType<typeof setTimeout> | undefined
  private heard = false
  private running = false
  private pings = 0

  /** `settings` false: no periodic pings, probes still work. */
  constructor(private readonly link: HeartbeatLink, private settings: Required<HeartbeatOptions> | false) {}

  /** A frame came from the server: the link is alive (called for every frame; keep it a field write). */
  alive(): void {
    this.heard = true
  }

  /** Starts pinging a connection that was just welcomed (restarts when running). */
  start(): void {
    this.stop()
    this.running = true
    const settings = this.settings
    if (settings === false) return
    this.pingTimer = setInterval(() => {
      // A probe or the previous ping is still waiting for an answer.
      if (this.deadTimer !== undefined) return
      this.ping(settings.timeout, 'heartbeat timeout')
    }, settings.interval)
  }

  /** Stops pinging and forgets a ping in flight: the connection dropped or the client closed. */
  stop(): void {
    this.running = false
    clearInterval(this.pingTimer)
    clearTimeout(this.deadTimer)
    this.pingTimer = undefined
    this.deadTimer = undefined
  }

  /** Pings now, and reports the link silent when no frame arrives within `timeout` ms; a ping in flight is replaced. Only while running. */
  probe(timeout: number): void {
    if (!this.running) return
    clearTimeout(this.deadTimer)
    this.ping(timeout, 'no answer to a probe')
  }

  /** Pings every `interval` ms from now on; nothing when the heartbeat is off. TypeError unless a positive number. */
  setInterval(interval: number): void {
    if (this.settings === false) return
    this.settings = { ...this.settings, interval: positive('heartbeat.interval', interval, 'TalkClient') }
    if (this.running) this.start()
  }

  private ping(timeout: number, reason: string): void {
    this.heard = false
    this.link.write(JSON.stringify({ route: PING_ROUTE, ref: `ping-${++this.pings}`, seen: this.link.seen(), done: this.link.done() }))
    this.deadTimer = setTimeout(() => {
      this.deadTimer = undefined
      if (!this.heard) this.link.silent(reason)
    }, timeout)
  }
}
