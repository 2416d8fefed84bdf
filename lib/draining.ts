import type { Connection } from './connection'
import type { Connections } from './connections'
import type { Core } from './core'
import type { Upgrader } from './upgrade'

/** What closing an app stops, in order: the connections (drained), then the sessions, the adapter and Talk's own servers. */
export interface Closable {
  readonly core: Core
  readonly connections: Connections
  readonly upgrader: Upgrader
  /** How long in-flight requests may finish before their socket is closed, in ms. */
  readonly closeTimeout: number
}

/**
 * Closes an app gracefully: from now on upgrades are refused with 503 and readiness answers 503;
 * each client is drained (at a random moment in `jitterMs`) and closed with `code`; then the
 * heartbeat, the sessions and the adapter stop, and the servers `listen()` made close. Those stay up
 * until the clients are gone, so health checks and late clients get an answer, not a refused connection.
 */
export async function shutdown(app: Closable, code: number, reason: string, jitterMs: number): Promise<void> {
  const { core, connections } = app
  connections.draining = true
  await Promise.all([...core.clients.values()].map((c) => drain(c, code, reason, jitterMs > 0 ? Math.random() * jitterMs : 0, app.closeTimeout)))
  connections.stopHeartbeat()
  core.resume.stop()
  await core.adapter.stop().catch((err: unknown) => core.fault(err, undefined, 'adapter stop failed'))
  await app.upgrader.closeOwnServers()
}

/**
 * Drains one connection: after `delay` ms (served as usual until then) new requests are answered
 * UNAVAILABLE, those received finish (up to `closeTimeout`), then the socket is closed with `code`.
 */
async function drain(connection: Connection, code: number, reason: string, delay: number, closeTimeout: number): Promise<void> {
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay))
  connection.draining = true
  let timer: NodeJS.Timeout | undefined
  await Promise.race([connection.whenIdle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, closeTimeout)))])
  clearTimeout(timer)
  if (!connection.open) return
  await new Promise<void>((resolve) => {
    // A peer that never answers the close frame is cut off.
    const cutOff = setTimeout(() => {
      connection.socket.terminate()
      resolve()
    }, 2000)
    connection.socket.once('close', () => {
      clearTimeout(cutOff)
      resolve()
    })
    connection.close(code, reason)
  })
}
