import { readFileSync } from 'node:fs'
import type { Server } from 'node:http'
import { isStormMessage, type StormDrainMessage, type StormProbeMessage, type StormProbeResultMessage, type StormReadyMessage } from './messages'

/** How long a storm server keeps trying to bind a port another process still holds, ms. */
const BIND_TIMEOUT_MS = 15_000
/** A drain that has not finished by then ends the process anyway, ms past the jitter window. */
const DRAIN_GRACE_MS = 15_000

/** What a storm server hands `serveStorm`. */
export interface StormServer {
  /** The HTTP server the WebSocket server is attached to, not listening yet. */
  http: Server
  /** Closes every client with 1012 at a random moment within `jitterMs`; resolves once all are closed. */
  drain(jitterMs: number): Promise<void>
  /** Connections open now. */
  connections(): number
}

/**
 * Runs a storm server under bench/storm: binds 127.0.0.1 on BENCH_STORM_PORT (0: any port; a port
 * the draining server still holds is retried until it lets go), reports ready with its CPU time,
 * answers probes, and drains on the runner's word: the listener closes first (the port is free for
 * the next server at once), then the clients are closed, then the process exits.
 */
export function serveStorm(server: StormServer): void {
  const send = process.send?.bind(process)
  if (!send) throw new Error('a storm server runs under bench/storm.ts (it needs the IPC channel)')
  process.once('SIGTERM', () => process.exit(0))
  process.on('disconnect', () => process.exit(0))
  process.on('message', (message: unknown) => {
    if (isStormMessage<StormProbeMessage>(message, 'storm-probe')) {
      const cpu = process.cpuUsage()
      const reply: StormProbeResultMessage = { type: 'storm-probe-result', cpuMicros: cpu.user + cpu.system, peakRss: peakRss(), connections: server.connections() }
      send(reply)
    }
    if (isStormMessage<StormDrainMessage>(message, 'storm-drain')) {
      server.http.close()
      const hard = setTimeout(() => process.exit(1), message.jitterMs + DRAIN_GRACE_MS)
      hard.unref()
      void server.drain(message.jitterMs).then(
        () => process.exit(0),
        () => process.exit(1),
      )
    }
  })
  void bind(server.http, Number(process.env['BENCH_STORM_PORT'] ?? 0)).then((port) => {
    const cpu = process.cpuUsage()
    const ready: StormReadyMessage = { type: 'storm-ready', port, cpuMicros: cpu.user + cpu.system }
    send(ready)
  })
}

/** Listens on 127.0.0.1:`port`, retrying while another process still holds it; resolves with the port bound. */
async function bind(http: Server, port: number): Promise<number> {
  const until = performance.now() + BIND_TIMEOUT_MS
  for (;;) {
    const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      const onError = (err: NodeJS.ErrnoException): void => resolve(err)
      http.once('error', onError)
      http.listen(port, '127.0.0.1', () => {
        http.off('error', onError)
        resolve(undefined)
      })
    })
    if (error === undefined) break
    if (error.code !== 'EADDRINUSE' || performance.now() > until) throw error
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  const address = http.address()
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address')
  return address.port
}

/** VmHWM (peak RSS) of this process in bytes, from /proc/self/status; NaN where there is none. */
function peakRss(): number {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'latin1'))
    return match?.[1] === undefined ? Number.NaN : Number(match[1]) * 1024
  } catch {
    return Number.NaN
  }
}
