import { isMessage, type ProbeMessage, type ProbeResultMessage, type ReadyMessage } from './ipc'

const gc = (globalThis as { gc?: () => void }).gc

/**
 * Tells the runner that this target listens on 127.0.0.1:`port`, then answers its probes with
 * `process.cpuUsage()` and memory (after a full GC when asked) until the runner goes away.
 */
export function serveControl(port: number): void {
  const send = process.send?.bind(process)
  if (!send) throw new Error('a bench target runs under bench/run.ts (it needs the IPC channel)')
  // Exit (not die) on SIGTERM, so --cpu-prof (BENCH_PROFILE_DIR) gets to write its profile.
  process.once('SIGTERM', () => process.exit(0))
  process.on('message', (message: unknown) => {
    if (!isMessage<ProbeMessage>(message, 'probe')) return
    const collected = message.gc && gc !== undefined
    if (collected) {
      // Twice: the first pass can leave objects that only the second finds unreachable (weak refs, finalizers).
      gc()
      gc()
    }
    const cpu = process.cpuUsage()
    const mem = process.memoryUsage()
    const reply: ProbeResultMessage = {
      type: 'probe-result',
      id: message.id,
      cpuMicros: cpu.user + cpu.system,
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      gc: collected,
    }
    send(reply)
  })
  // The runner died or let go: a target never outlives its run.
  process.on('disconnect', () => process.exit(0))
  const ready: ReadyMessage = { type: 'ready', port }
  send(ready)
}

/** Narrows an untyped request body to a plain object (arrays and null are not). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
