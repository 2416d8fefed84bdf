import { connect, createServer, type Server, type Socket } from 'node:net'

/** One client connection through the proxy: the accepted socket and its socket to the target. */
interface Pair {
  client: Socket
  server: Socket
  /** Set when a request that the armed cut waits for went through this pair. */
  marked: boolean
}

/** A cut waiting for the reply to a request it recognises. */
interface Armed {
  match: (request: Buffer) => boolean
  done: (pair: Pair) => void
}

/**
 * A TCP proxy on a free loopback port in front of one target (a `redis-server`, a node), for fault tests:
 * it forwards bytes both ways untouched until told to cut every connection through it, which the
 * clients see as the network dropping (their sockets close; they connect again through the proxy).
 */
export class TcpProxy {
  private readonly pairs = new Set<Pair>()
  private armed: Armed | undefined
  /** Connections cut so far. */
  cuts = 0

  private constructor(private readonly server: Server, readonly port: number, private targetPort: number) {}

  /** Starts a proxy to `targetPort` on 127.0.0.1. */
  static start(targetPort: number): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined
    const server = createServer((client) => proxy?.accept(client, proxy.targetPort))
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => {
        const address = server.address()
        proxy = new TcpProxy(server, typeof address === 'object' && address !== null ? address.port : 0, targetPort)
        resolve(proxy)
      })
    })
  }

  /** Sends the connections made from now on to `targetPort` (another node: a load balancer's new pick); open ones stay. */
  retarget(targetPort: number): void {
    this.targetPort = targetPort
  }

  /** `redis://127.0.0.1:<port>` of the proxy. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** Cuts every connection through the proxy at once (both sockets destroyed); returns how many. */
  cutAll(): number {
    const count = this.pairs.size
    for (const pair of this.pairs) {
      pair.client.destroy()
      pair.server.destroy()
    }
    this.pairs.clear()
    this.cuts += count
    return count
  }

  /**
   * Arms a cut at the worst moment for a client: once a request that `match` recognises has gone
   * through to the target, the next bytes the target answers on that connection are dropped and
   * that connection is cut (`scope: 'all'`: every connection). So the target ran the command, and
   * its client never hears that it did. Resolves once it cut (or after `fallbackMs`, cutting
   * everything then).
   */
  cutAfterRequest(match: (request: Buffer) => boolean, fallbackMs: number, scope: 'one' | 'all' = 'one'): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.armed = undefined
        this.cutAll()
        resolve()
      }, fallbackMs)
      this.armed = {
        match,
        done: (pair) => {
          clearTimeout(timer)
          this.armed = undefined
          if (scope === 'all') {
            this.cutAll()
          } else {
            this.pairs.delete(pair)
            pair.client.destroy()
            pair.server.destroy()
            this.cuts++
          }
          resolve()
        },
      }
    })
  }

  /** Cuts every connection and stops listening. */
  close(): Promise<void> {
    this.armed = undefined
    this.cutAll()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }

  private accept(client: Socket, targetPort: number): void {
    const server = connect(targetPort, '127.0.0.1')
    const pair: Pair = { client, server, marked: false }
    this.pairs.add(pair)
    const drop = (): void => {
      this.pairs.delete(pair)
      client.destroy()
      server.destroy()
    }
    client.on('error', drop).on('close', drop)
    server.on('error', drop).on('close', drop)
    client.on('data', (chunk: Buffer) => {
      const armed = this.armed
      if (armed !== undefined && !pair.marked && armed.match(chunk)) pair.marked = true
      server.write(chunk)
    })
    server.on('data', (chunk: Buffer) => {
      const armed = this.armed
      if (armed !== undefined && pair.marked) {
        pair.marked = false
        armed.done(pair)
        return
      }
      client.write(chunk)
    })
  }
}
