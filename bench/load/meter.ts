import { isMessage, type ProbeMessage, type ProbeResultMessage, type ServerSample } from '../lib/ipc'
import { machineBusyMicros } from '../lib/machine'

const waiting = new Map<number, (sample: ServerSample) => void>()
let nextProbe = 0

process.on('message', (message: unknown) => {
  if (!isMessage<ProbeResultMessage>(message, 'probe-result')) return
  waiting.get(message.id)?.(message)
  waiting.delete(message.id)
})

/** Asks the server (through the runner) for its CPU time and memory, after a full GC when `gc`. */
export function probeServer(gc = false): Promise<ServerSample> {
  const send = process.send?.bind(process)
  if (!send) return Promise.reject(new Error('the load generator runs under bench/run.ts (it needs the IPC channel)'))
  const id = ++nextProbe
  return new Promise((resolve) => {
    waiting.set(id, resolve)
    const probe: ProbeMessage = { type: 'probe', id, gc }
    send(probe)
  })
}

/** CPU and wall time of a measurement window, on both sides. */
export interface WindowFigures {
  seconds: number
  /** Server CPU (user + system) in the window, µs. */
  serverMicros: number
  /** Server CPU as a share of one core, %. */
  serverPercent: number
  /** Load-generator CPU as a share of one core, %; near 100 means the load generator, not the server, was the limit. */
  loadPercent: number
  /**
   * CPU used by anything else (kernel networking, other processes, hypervisor steal) as a share of one
   * core, %; well above its usual level means the window was disturbed. NaN off Linux.
   */
  otherPercent: number
}

/** A running measurement window; `stop()` closes it. */
export interface Window {
  stop(): Promise<WindowFigures>
}

/** Opens a measurement window: samples the server's and this process's CPU now. */
export async function openWindow(): Promise<Window> {
  const serverStart = await probeServer()
  const machineStart = machineBusyMicros()
  const loadStart = process.cpuUsage()
  const wallStart = performance.now()
  return {
    async stop() {
      const seconds = (performance.now() - wallStart) / 1000
      const load = process.cpuUsage(loadStart)
      const machineMicros = machineBusyMicros() - machineStart
      const serverEnd = await probeServer()
      const serverMicros = serverEnd.cpuMicros - serverStart.cpuMicros
      const loadMicros = load.user + load.system
      return {
        seconds,
        serverMicros,
        serverPercent: serverMicros / 1e4 / seconds,
        loadPercent: loadMicros / 1e4 / seconds,
        otherPercent: Math.max(0, machineMicros - serverMicros - loadMicros) / 1e4 / seconds,
      }
    },
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** A `pad` string that makes an `echo` request frame about `bytes` long. */
export function padFor(bytes: number): string {
  const bare = JSON.stringify({ command: 'echo', ref: 100000, n: 1000000, pad: '' }).length
  return 'x'.repeat(Math.max(0, bytes - bare))
}
