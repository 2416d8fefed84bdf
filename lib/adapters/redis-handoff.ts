import type { Redis } from 'ioredis'
import type { AdapterHost, CapturedPush, HandoffBus, PushCapture } from './adapter'
import type { Outbox } from './redis-outbox'
import type { RedisNames } from './redis-names'
import { NOT_LIVE, type Subscriptions } from './redis-subscriptions'
import { encodeHandoff, type MessageSink, type PushKind } from './redis-wire'

/** Pushes one capture may hold: past it the record has a hole and the resume falls back to a fresh session. */
const MAX_CAPTURED = 20_000

/** What the handoff needs of a started Redis adapter. */
export interface HandoffRun {
  readonly host: AdapterHost
  readonly cmd: Redis
  readonly outbox: Outbox
  readonly subscriptions: Subscriptions
}

/** One record of pushes, from its mark's return on. */
class Capture implements PushCapture {
  started = false
  broken = false
  readonly pushes: CapturedPush[] = []
  /** This node's messages sent while recording and not heard back yet, by number. */
  readonly unheard = new Map<number, CapturedPush[]>()

  constructor(
    private readonly owner: RedisHandoff,
    /** The handoff message whose return starts the record. */
    readonly mark: string,
  ) {}

  add(push: CapturedPush): void {
    if (!this.started || this.broken) return
    if (this.pushes.length >= MAX_CAPTURED) this.broken = true
    else this.pushes.push(push)
  }

  stop(): CapturedPush[] | undefined {
    const own = this.owner.finish(this)
    if (!this.started || this.broken) return undefined
    // Heard back after the mark: already in the record, in the channel's order. Not heard back yet:
    // after everything recorded, since this node hears its own messages in that same order.
    for (const seq of [...this.unheard.keys()].sort((a, b) => a - b)) {
      if (seq <= own) continue
      for (const push of this.unheard.get(seq) ?? []) this.pushes.push(push)
    }
    return this.pushes
  }
}

/**
 * The Redis side of resume on any node (`HandoffBus`): handoff messages ride the shared channel
 * (`["h", origin, to]`, lib/adapters/redis-wire.ts), so they keep their place among the pushes; a
 * capture records the pushes this node hears from its mark's return on, and the pushes this node
 * sends meanwhile (by message number) so that none it sent before the end is missed.
 */
export class RedisHandoff implements HandoffBus {
  /** Whether the app keeps sessions (`enable()`): this node's messages are numbered then. */
  enabled = false
  private readonly captures = new Set<Capture>()
  /** The highest number of this node's own messages heard back while capturing. */
  private heardOwn = 0

  constructor(
    private readonly running: () => HandoffRun | undefined,
    private readonly names: RedisNames,
    /** Where the pushes of a message go when no capture is running (the adapter's sink). */
    private readonly deliver: MessageSink,
  ) {}

  /** True while a capture records: messages are then read through `sink` (this node's own too). */
  get active(): boolean {
    return this.captures.size > 0
  }

  /** Reads the pushes of a message while capturing: recorded, then delivered as usual (not this node's own). */
  readonly sink: MessageSink = {
    rooms: (origin, rooms, frame, except, seq) => {
      this.record(origin, seq, rooms, except, frame)
      if (origin !== this.self()) this.deliver.rooms(origin, rooms, frame, except, seq)
    },
    client: (origin, clientId, frame, seq) => {
      this.record(origin, seq, undefined, clientId, frame)
      if (origin !== this.self()) this.deliver.client(origin, clientId, frame, seq)
    },
    ordered: (origin, id, rooms, frame, except) => {
      this.record(origin, 0, rooms, except, frame)
      this.deliver.ordered(origin, id, rooms, frame, except)
    },
    handoff: (origin, to, body) => this.heard(origin, to, body),
  }

  /** A handoff message came off the channel: a capture's mark starts it; one for this node goes to the host. */
  heard(origin: string, to: string, body: string): void {
    const run = this.running()
    if (run === undefined) return
    if (origin === run.host.nodeId) {
      for (const capture of this.captures) if (!capture.started && capture.mark === body) capture.started = true
    }
    if (to === run.host.nodeId) run.host.handoff?.(origin, body)
  }

  enable(): void {
    this.enabled = true
    const run = this.running()
    if (run !== undefined) run.outbox.numbered = true
  }

  send(to: string, body: string): void {
    const run = this.running()
    if (run === undefined) return
    // After what this node queued: a handoff message keeps its place among this node's pushes.
    run.outbox.flush()
    run.cmd.publish(this.names.bus, encodeHandoff(run.host.nodeId, to, body)).catch(() => {
      // The node waiting for it gives up after its timeout: a fresh session, as without resume.
    })
  }

  mark(to: string, body: string): PushCapture {
    const capture = new Capture(this, body)
    const run = this.running()
    if (run === undefined) {
      capture.broken = true
      return capture
    }
    if (this.captures.size === 0) {
      this.heardOwn = 0
      run.outbox.tap = this.sent
    }
    this.captures.add(capture)
    this.send(to, body)
    return capture
  }

  async listen(rooms: readonly string[], timeoutMs: number): Promise<boolean> {
    const run = this.running()
    if (run === undefined) return false
    const channels = rooms.map((room) => run.subscriptions.hold(room)).filter((c): c is string => c !== undefined)
    const deadline = Date.now() + timeoutMs
    // SUBSCRIBE's confirmation is not an event the subscriptions expose: look every few ms (a handoff is rare).
    while (!channels.every((channel) => run.subscriptions.generation(channel) !== NOT_LIVE)) {
      if (Date.now() > deadline || this.running() !== run) return false
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    return true
  }

  flush(): number {
    const run = this.running()
    if (run === undefined) return 0
    run.outbox.flush()
    return run.outbox.sent
  }

  /** The subscription dropped: what was published meanwhile is lost to every record. */
  disconnected(): void {
    for (const capture of this.captures) capture.broken = true
  }

  /** Ends a capture; returns the number of this node's last message heard back. */
  finish(capture: Capture): number {
    // Pushes this node queued before the end are sent now, so the tap sees them.
    this.flush()
    this.captures.delete(capture)
    const run = this.running()
    if (this.captures.size === 0 && run !== undefined) run.outbox.tap = undefined
    return this.heardOwn
  }

  private self(): string {
    return this.running()?.host.nodeId ?? ''
  }

  private record(origin: string, seq: number, rooms: string | readonly string[] | undefined, client: string | undefined, frame: string): void {
    const push: CapturedPush = { origin, seq, rooms, client, frame }
    const own = origin === this.self()
    if (own && seq > this.heardOwn) this.heardOwn = seq
    for (const capture of this.captures) {
      capture.add(push)
      if (own) capture.unheard.delete(seq)
    }
  }

  /** This node sent a message while capturing: kept until heard back, as it may belong after the mark. */
  private readonly sent = (seq: number, flat: readonly unknown[]): void => {
    const origin = this.self()
    const pushes: CapturedPush[] = []
    for (let i = 0; i + 3 < flat.length; i += 4) {
      const kind = flat[i] as PushKind
      const target = flat[i + 1] as string | string[]
      pushes.push(kind === 'r'
        ? { origin, seq, rooms: target, client: flat[i + 2] as string | undefined, frame: flat[i + 3] as string }
        : { origin, seq, rooms: undefined, client: target as string, frame: flat[i + 3] as string })
    }
    for (const capture of this.captures) capture.unheard.set(seq, pushes)
  }
}
