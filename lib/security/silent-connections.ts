import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'

/**
 * Cuts TCP connections that make no request (neither an upgrade nor plain HTTP) within `timeoutMs`.
 * Node's `headersTimeout` only runs once a request has begun, and `server.timeout` arms a timer on
 * every socket (measured at about 10 % of a connect-and-close cycle); this keeps arrival times in a
 * Map instead (left on the request, the upgrade or the close), swept by one unref'd interval every
 * quarter of the timeout.
 */
export class SilentConnections {
  private readonly waiting = new Map<Duplex, number>()
  private readonly sweeper: NodeJS.Timeout
  /** The 'close' listener of every watched socket (`this` is the socket): one function per server, not a closure per connection. */
  private readonly closed: (this: Duplex) => void

  constructor(
    private readonly server: Server,
    private readonly timeoutMs: number,
  ) {
    const waiting = this.waiting
    this.closed = function forgetClosed(this: Duplex): void {
      waiting.delete(this)
    }
    server.on('connection', this.arrived)
    server.on('request', this.requested)
    this.sweeper = setInterval(this.sweep, Math.max(50, timeoutMs / 4))
    this.sweeper.unref()
  }

  /** Sockets watched now: connected, no request yet, not closed. */
  get size(): number {
    return this.waiting.size
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
    // A socket that closes before its request leaves at once, not at the next sweep (connect-and-close floods).
    socket.on('close', this.closed)
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
