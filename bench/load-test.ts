// Load test (not part of `npm test` or `npm run bench`): a Talk server with its default limits in its
// own process, 2,000 concurrent connections sending a steady request rate, 5 % of them stalled
// readers (connected, in rooms, never reading), for a set time; then SIGTERM and the jittered drain.
// Prints throughput, latency percentiles, error counts, peak server memory, and the drain.
//
//   npx ts-node --transpile-only bench/load-test.ts
//   LOAD_CONNECTIONS=2000 LOAD_RATE=2000 LOAD_SECONDS=30 LOAD_STALLED=0.05 LOAD_SAY=0.1 LOAD_PUSH_BYTES=1000 LOAD_DROPPABLE=0 \
//   LOAD_MAX_BUFFERED=4194304 LOAD_JITTER_MS=2000 \
//     npx ts-node --transpile-only bench/load-test.ts
//
// Each process needs a file descriptor per connection: check `ulimit -n` (hard limit) first.
import { fork, type ChildProcess } from 'node:child_process'
import { cpus } from 'node:os'
import pino from 'pino'
import WebSocket from 'ws'
import { talk } from '../index'
import { installShutdown } from '../lib/shutdown'

interface Config {
  connections: number
  /** Requests per second over all the reading connections. */
  rate: number
  seconds: number
  warmupSeconds: number
  /** Share of connections that stop reading after they joined their room. */
  stalled: number
  /** Share of requests that push to the sender's room (the rest are echoes). */
  say: number
  rooms: number
  /** Size of the text in each room push. */
  pushBytes: number
  droppable: boolean
  /** The server's maxBufferedBytes (its dropThreshold is a quarter of it). */
  maxBuffered: number
  jitterMs: number
}

function config(env: NodeJS.ProcessEnv = process.env): Config {
  const num = (name: string, fallback: number): number => {
    const value = env[name] === undefined ? fallback : Number(env[name])
    if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number ≥ 0`)
    return value
  }
  return {
    connections: num('LOAD_CONNECTIONS', 2000),
    rate: num('LOAD_RATE', 2000),
    seconds: num('LOAD_SECONDS', 30),
    warmupSeconds: num('LOAD_WARMUP', 3),
    stalled: num('LOAD_STALLED', 0.05),
    say: num('LOAD_SAY', 0.1),
    rooms: num('LOAD_ROOMS', 20),
    pushBytes: num('LOAD_PUSH_BYTES', 1000),
    droppable: env['LOAD_DROPPABLE'] === '1',
    maxBuffered: num('LOAD_MAX_BUFFERED', 4 * 1024 * 1024),
    jitterMs: num('LOAD_JITTER_MS', 2000),
  }
}

// ---- the server process ---------------------------------------------------------------------

interface Probe {
  rss: number
  heapUsed: number
  cpu: NodeJS.CpuUsage
  clients: number
  buffered: number
  /** Droppable pushes skipped for slow consumers so far. */
  dropped: number
}

function serve(cfg: Config): void {
  const app = talk({ logger: pino({ level: 'warn' }, pino.destination(2)), metrics: { defaultMetrics: false }, maxBufferedBytes: cfg.maxBuffered })
  const text = 'x'.repeat(cfg.pushBytes)
  const dropped = app.metrics?.registry.getSingleMetric('talk_pushes_dropped_total')
  app.route('echo', (ctx) => ({ echo: ctx.body }))
  app.route('room/join', (ctx) => {
    ctx.join(String(ctx.body.room))
  })
  app.route('room/say', (ctx) => {
    ctx.to(String(ctx.body.room)).send('said', { n: ctx.body.n, text }, { droppable: cfg.droppable })
  })
  installShutdown(app, { jitterMs: cfg.jitterMs, hardTimeout: 60_000 })
  process.on('message', async (message) => {
    if (message !== 'probe') return
    let buffered = 0
    for (const c of app.clients.values()) buffered += c.socket.bufferedAmount
    const skipped = dropped === undefined ? 0 : (await dropped.get()).values.reduce((n, v) => n + v.value, 0)
    const memory = process.memoryUsage()
    const probe: Probe = { rss: memory.rss, heapUsed: memory.heapUsed, cpu: process.cpuUsage(), clients: app.clients.size, buffered, dropped: skipped }
    process.send?.(probe)
  })
  void app.listen(0, '127.0.0.1').then(({ port }) => process.send?.({ port }))
}

// ---- the load generator ---------------------------------------------------------------------

class Server {
  private waiting: ((probe: Probe) => void) | undefined

  constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.on('message', (message) => {
      if (typeof message === 'object' && message !== null && 'rss' in message) this.waiting?.(message as Probe)
    })
  }

  static start(): Promise<Server> {
    const child = fork(__filename, ['server'], { execArgv: ['-r', 'ts-node/register/transpile-only'], env: process.env })
    return new Promise((resolve, reject) => {
      child.once('message', (message) => resolve(new Server(child, (message as { port: number }).port)))
      child.once('exit', (code) => reject(new Error(`server exited with ${code}`)))
    })
  }

  probe(): Promise<Probe> {
    return new Promise((resolve) => {
      this.waiting = resolve
      this.child.send('probe')
    })
  }
}

interface Client {
  ws: WebSocket
  stalled: boolean
  room: string
  sent: Map<number, number>
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number
}

async function main(): Promise<void> {
  const cfg = config()
  const server = await Server.start()
  const url = `ws://127.0.0.1:${server.port}`
  const clients: Client[] = []
  const latencies: number[] = []
  const errors = new Map<string, number>()
  const closes = new Map<number, number>()
  let counting = false
  let replies = 0
  let pushes = 0
  let connectFailures = 0
  let draining = false
  let windowStartAt = Infinity

  const count = <K>(map: Map<K, number>, key: K): void => {
    map.set(key, (map.get(key) ?? 0) + 1)
  }

  const connect = (i: number): Promise<void> =>
    new Promise((resolve) => {
      const ws = new WebSocket(url)
      // Rooms are contiguous blocks of connections and every n-th connection stalls, so each room has its stalled readers.
      const roomSize = Math.ceil(cfg.connections / cfg.rooms)
      const stalled = cfg.stalled > 0 && i % Math.max(1, Math.round(1 / cfg.stalled)) === 0
      const client: Client = { ws, stalled, room: `room-${Math.floor(i / roomSize)}`, sent: new Map() }
      let joined = false
      ws.on('message', (data) => {
        const frame = JSON.parse(data.toString()) as { status?: string; ref?: number; command?: string; error?: { code: string } }
        if (frame.command === 'welcome') {
          ws.send(JSON.stringify({ command: 'room:join', ref: 0, room: client.room }))
          return
        }
        if (frame.status === undefined) {
          if (counting) pushes++
          return
        }
        if (frame.ref === 0 && !joined) {
          joined = true
          clients.push(client)
          // A stalled reader stays connected and in its room, and never reads again.
          if (client.stalled) ws.pause()
          resolve()
          return
        }
        const sentAt = frame.ref === undefined ? undefined : client.sent.get(frame.ref)
        if (sentAt !== undefined) client.sent.delete(frame.ref as number)
        if (frame.status === 'error') count(errors, frame.error?.code ?? 'unknown')
        else if (counting && sentAt !== undefined && sentAt >= windowStartAt) {
          replies++
          latencies.push(performance.now() - sentAt)
        }
      })
      ws.on('close', (code) => {
        if (!draining) count(closes, code)
      })
      ws.on('error', () => {
        connectFailures++
        resolve()
      })
    })

  console.log(`connecting ${cfg.connections} clients (${Math.round(cfg.connections * cfg.stalled)} stalled readers) to ${url} …`)
  const started = performance.now()
  for (let i = 0; i < cfg.connections; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, cfg.connections - i) }, (_v, k) => connect(i + k)))
  }
  console.log(`connected in ${((performance.now() - started) / 1000).toFixed(1)} s; ${connectFailures} failed`)

  // Steady load: every 10 ms, rate/100 requests from the reading clients, round robin.
  const readers = clients.filter((c) => !c.stalled)
  let next = 0
  let ref = 1
  let sent = 0
  let carry = 0
  const tick = setInterval(() => {
    carry += cfg.rate / 100
    while (carry >= 1) {
      carry--
      const client = readers[next++ % readers.length]
      if (client === undefined || client.ws.readyState !== WebSocket.OPEN) continue
      const r = ref++
      client.sent.set(r, performance.now())
      const say = Math.random() < cfg.say
      client.ws.send(JSON.stringify(say ? { command: 'room:say', ref: r, room: client.room, n: r } : { command: 'echo', ref: r, n: r, pad: 'p'.repeat(64) }))
      if (counting) sent++
    }
  }, 10)

  const peak = { rss: 0, heapUsed: 0, buffered: 0 }
  const sampler = setInterval(() => {
    void server.probe().then((p) => {
      peak.rss = Math.max(peak.rss, p.rss)
      peak.heapUsed = Math.max(peak.heapUsed, p.heapUsed)
      peak.buffered = Math.max(peak.buffered, p.buffered)
    })
  }, 250)

  await new Promise((resolve) => setTimeout(resolve, cfg.warmupSeconds * 1000))
  const before = await server.probe()
  const loadCpuBefore = process.cpuUsage()
  const windowStart = (windowStartAt = performance.now())
  counting = true
  await new Promise((resolve) => setTimeout(resolve, cfg.seconds * 1000))
  counting = false
  const windowSeconds = (performance.now() - windowStart) / 1000
  const after = await server.probe()
  const loadCpu = process.cpuUsage(loadCpuBefore)
  clearInterval(tick)
  const outstanding = readers.reduce((n, c) => n + c.sent.size, 0)

  // Drain: SIGTERM, then every client should be closed with 1012 over the jitter window.
  draining = true
  const drainCodes = new Map<number, number>()
  const drained = Promise.all(clients.map((c) => new Promise<void>((resolve) => {
    if (c.ws.readyState === WebSocket.CLOSED) return resolve()
    c.ws.once('close', (code) => {
      count(drainCodes, code)
      resolve()
    })
    // A stalled reader must read again to see its close frame.
    c.ws.resume()
  })))
  const signalled = performance.now()
  server.child.kill('SIGTERM')
  clearInterval(sampler)
  const exit = await new Promise<number | null>((resolve) => server.child.once('exit', (code) => resolve(code)))
  await drained
  const drainSeconds = (performance.now() - signalled) / 1000

  latencies.sort((a, b) => a - b)
  const cpuSeconds = (c: NodeJS.CpuUsage): number => (c.user + c.system) / 1e6
  const serverCpu = (cpuSeconds(after.cpu) - cpuSeconds(before.cpu)) / windowSeconds
  const mb = (n: number): string => (n / 1024 / 1024).toFixed(0)
  const lines = [
    `node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'})`,
    `connections: ${clients.length} (${clients.filter((c) => c.stalled).length} stalled readers), ${cfg.rooms} rooms, connect failures: ${connectFailures}`,
    `window: ${windowSeconds.toFixed(1)} s at ${cfg.rate} req/s offered (${Math.round(cfg.say * 100)} % room pushes of ${cfg.pushBytes} bytes${cfg.droppable ? ', droppable' : ''})`,
    `requests sent: ${sent}, replies: ${replies} (${(replies / windowSeconds).toFixed(0)}/s), still outstanding at the end: ${outstanding}`,
    `latency ms: p50 ${percentile(latencies, 50).toFixed(2)}, p95 ${percentile(latencies, 95).toFixed(2)}, p99 ${percentile(latencies, 99).toFixed(2)}, max ${(latencies[latencies.length - 1] ?? NaN).toFixed(1)}`,
    `pushes received by readers: ${pushes} (${(pushes / windowSeconds).toFixed(0)}/s); droppable pushes skipped for stalled readers: ${after.dropped - before.dropped}`,
    `error replies: ${errors.size === 0 ? 'none' : [...errors].map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `closes before the drain: ${closes.size === 0 ? 'none' : [...closes].map(([k, v]) => `${k} × ${v}`).join(', ')}`,
    `server maxBufferedBytes ${mb(cfg.maxBuffered)} MB; peak RSS ${mb(peak.rss)} MB, peak heap ${mb(peak.heapUsed)} MB, peak unsent bytes ${mb(peak.buffered)} MB, CPU ${(serverCpu * 100).toFixed(0)} % of a core; load generator CPU ${((cpuSeconds(loadCpu) / windowSeconds) * 100).toFixed(0)} %`,
    `drain (SIGTERM, jitter ${cfg.jitterMs} ms): all clients closed in ${drainSeconds.toFixed(1)} s, close codes ${[...drainCodes].map(([k, v]) => `${k} × ${v}`).join(', ')}; exit code ${String(exit)}`,
  ]
  console.log(lines.join('\n'))
  process.exit(0)
}

if (process.argv[2] === 'server') serve(config())
else void main()
