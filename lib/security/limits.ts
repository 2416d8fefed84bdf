import { TalkError } from '../errors'

/**
 * Counts connections (and handshakes still in progress) in total and per peer address, so that an
 * upgrade past a limit is refused with an HTTP status before any socket opens: past `maxConnections`
 * 503 `UNAVAILABLE`, past `maxConnectionsPerIp` 429 `RATE_LIMITED`. 0 means no limit.
 */
export class ConnectionLimits {
  private total = 0
  private readonly perIp = new Map<string, number>()

  constructor(
    readonly maxConnections: number,
    readonly maxConnectionsPerIp: number,
  ) {}

  /** Counts one more connection from `ip`, or returns the error to refuse it with (nothing is counted then). */
  acquire(ip: string | undefined): TalkError | undefined {
    if (this.maxConnections > 0 && this.total >= this.maxConnections) {
      return new TalkError('UNAVAILABLE', 'Server is at its connection limit')
    }
    if (this.maxConnectionsPerIp > 0 && ip !== undefined) {
      const count = this.perIp.get(ip) ?? 0
      if (count >= this.maxConnectionsPerIp) return new TalkError('RATE_LIMITED', 'Too many connections from this address')
      this.perIp.set(ip, count + 1)
    }
    this.total++
    return undefined
  }

  /** Uncounts a connection counted by `acquire()`. */
  release(ip: string | undefined): void {
    this.total--
    if (this.maxConnectionsPerIp > 0 && ip !== undefined) {
      const count = (this.perIp.get(ip) ?? 1) - 1
      if (count <= 0) this.perIp.delete(ip)
      else this.perIp.set(ip, count)
    }
  }
}
