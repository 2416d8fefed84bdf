import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'

/**
 * Cuts TCP connections that make no request (neither an upgrade nor plain HTTP) within `timeoutMs`.
 * Node's `headersTimeout` only runs once a request has begun, and `server.timeout` arms a timer on
 * every socket (measured at about 10 % of a connect-and-close cycle); this keeps arrival times in a
 * Map instead, swept by one unref'd interval every quarter of the timeout.
 */
export class SilentConnections {
  private readonly waiting = new Map<Duplex, number>()
  private readonly sweeper: NodeJS.Timeout

  constructor(
    private readonly server: Server,
    private readonly timeoutMs: number,
  ) {
    server.on('connection', this.arrived)
    server.on('request', this.requested)
    this.sweeper = setInterval(this.sweep, Math.max(50, timeoutMs / 4))
    this.sweeper.unref()
  }

  /** The socket made its request (call it for an upgrade): it is no longer watched. */
  forget(socket: Duplex): void {
    this.waiting.delete(socket)
  }

  /** Stops watching: no more sweeps, no listeners left on the server. */
  stop(): void {
    clearInterval(this.sweeper)
    this.server.off('connection', this.arrived)
    this.server.off('request', this.requested)
    this.waiting.clear()
  }

  private readonly arrived = (socket: Duplex): void => {
    this.waiting.set(socket, performance.now())
  }

  private readonly requested = (req: IncomingMessage): void => {
    this.waiting.delete(req.socket)
  }

  private readonly sweep = (): void => {
    const now = performance.now()
    for (const [socket, since] of this.waiting) {
      if (socket.destroyed) this.waiting.delete(socket)
      else if (now - since >= this.timeoutMs) {
        this.waiting.delete(socket)
        socket.destroy()
      }
    }
  }
}
