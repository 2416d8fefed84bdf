import { createServer, type Server } from 'node:http'
import { createServer as createTcpServer, connect as tcpConnect, type Socket } from 'node:net'
import type { TalkApp, TalkEvents } from '../../index'
import type { ClientEvents, TalkClient } from '../../lib/client'

/** A Talk app attached to its own HTTP server, so a test can kill it abruptly and start another on the same port. */
export interface Served {
  app: TalkApp
  port: number
  url: string
  /** Like a crashed process: every socket is cut without a close frame and the port is freed. */
  kill(): Promise<void>
  /** Graceful close of the app, then of the HTTP server. */
  close(): Promise<void>
}

/** Serves `app` on `port` (0: a free one) on 127.0.0.1. */
export async function serve(app: TalkApp, port = 0): Promise<Served> {
  const server: Server = createServer((_req, res) => res.writeHead(426).end())
  app.attach(server)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  const bound = typeof address === 'object' && address !== null ? address.port : port
  const stopServer = () => new Promise<void>((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
  return {
    app,
    port: bound,
    url: `ws://127.0.0.1:${bound}`,
    async kill() {
      for (const connection of app.clients.values()) connection.socket.terminate()
      await stopServer()
      await app.close()
    },
    async close() {
      await app.close()
      await stopServer()
    },
  }
}

/** A TCP proxy in front of a server: it can swallow traffic silently or refuse new connections. */
export interface Proxy {
  port: number
  url: string
  /** Stops forwarding on every open connection, both ways, without closing anything: a silent network. */
  blackhole(): void
  /** While true, new connections are accepted and dropped at once. */
  refuse: boolean
  /** Connections accepted so far. */
  readonly accepted: number
  close(): Promise<void>
}

/** Starts a TCP proxy on a free port forwarding to `target` on 127.0.0.1. */
export async function proxy(target: number): Promise<Proxy> {
  const pairs = new Set<[Socket, Socket]>()
  const silenced: Socket[] = []
  let accepted = 0
  const state = { refuse: false }
  const server = createTcpServer((inbound) => {
    accepted++
    if (state.refuse) {
      inbound.destroy()
      return
    }
    const outbound = tcpConnect(target, '127.0.0.1')
    const pair: [Socket, Socket] = [inbound, outbound]
    pairs.add(pair)
    inbound.pipe(outbound)
    outbound.pipe(inbound)
    const drop = () => {
      pairs.delete(pair)
      inbound.destroy()
      outbound.destroy()
    }
    inbound.on('error', drop).on('close', drop)
    outbound.on('error', drop).on('close', drop)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    blackhole() {
      for (const [inbound, outbound] of pairs) {
        inbound.unpipe(outbound)
        outbound.unpipe(inbound)
        inbound.pause()
        outbound.pause()
        // Kept open so neither end sees a FIN: the link just goes silent.
        silenced.push(inbound, outbound)
      }
      pairs.clear()
    },
    get refuse() {
      return state.refuse
    },
    set refuse(value: boolean) {
      state.refuse = value
    },
    get accepted() {
      return accepted
    },
    async close() {
      for (const socket of silenced.splice(0)) socket.destroy()
      for (const [inbound, outbound] of pairs) {
        inbound.destroy()
        outbound.destroy()
      }
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** The next time a client emits an event. */
export function clientEvent<E extends keyof ClientEvents>(client: TalkClient, event: E): Promise<ClientEvents[E]> {
  return new Promise((resolve) => client.once(event, resolve))
}

/** The next time an app emits an event. */
export function appEvent<E extends keyof TalkEvents>(app: TalkApp, event: E): Promise<TalkEvents[E]> {
  return new Promise((resolve) => {
    const listener = (...args: TalkEvents[E]) => {
      app.off(event, listener)
      resolve(args)
    }
    app.on(event, listener)
  })
}

/** Collects the pushes of one name a client hears, in order. */
export function collect(client: TalkClient, name: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = []
  client.on(name, (payload) => out.push(payload))
  return out
}

/** Resolves once `check()` is true, re-checking whenever the client hears a push or event. */
export function until(client: TalkClient, names: string[], check: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (check()) return resolve()
    const listener = () => {
      if (!check()) return
      for (const name of names) client.off(name, listener)
      resolve()
    }
    for (const name of names) client.on(name, listener)
  })
}
