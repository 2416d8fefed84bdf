/**
 * One connection's share of an event-loop turn (fair turns, docs/operations.md): it may start
 * `maxRequests` requests and refusals, and answer requests started up to `maxMs` apart, before it
 * yields to I/O, timers and other connections. The time is measured by the requests' own start
 * clocks (`ctx.startedAt`): the budget reads no clock of its own.
 */
export class TurnBudget {
  /** Requests and refusals started in this turn. */
  started = 0
  /** The earliest and latest start of the requests answered this turn. */
  private first = Infinity
  private last = -Infinity

  constructor(
    private readonly maxRequests: number,
    private readonly maxMs: number,
  ) {}

  /** Whether this turn's share is used: `maxRequests` started, or `maxMs` between the answered requests' starts. */
  get spent(): boolean {
    return this.started >= this.maxRequests || this.last - this.first >= this.maxMs
  }

  /** Notes the start of a request being answered. */
  answered(startedAt: number): void {
    if (startedAt < this.first) this.first = startedAt
    if (startedAt > this.last) this.last = startedAt
  }

  /** A new turn: the whole share again. */
  renew(): void {
    this.started = 0
    this.first = Infinity
    this.last = -Infinity
  }
}
