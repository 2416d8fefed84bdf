/**
 * Noisy neighbour: does one client saturating its own rate limit with the demo's heaviest route
 * slow everyone else down? The documents demo (examples/documents, default options: rate limit
 * 1,000 burst, 200/s) runs in its own process; one "noisy" connection sends `document:get` of a big
 * document at its sustained limit, in bursts (`BURST` requests every 100 ms: 200/s by default), while
 * `PINGERS` other connections each send `talk/ping` every `PING_MS`. Prints the pingers' round trip,
 * p50 and p99, first with the noisy client silent (idle), then while it sends; the goal is a noisy p99
 * under 2 × the idle p99.
 *
 *   npm run bench:noisy
 *   DOC_KB=1024 BURST=20 SECONDS=5 npm run bench:noisy
 */
import { fork, type ChildProcess } from 'node:child_process'
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks'
import pino from 'pino'
import WebSocket from 'ws'
import { Builder, type Launch } from './lib/build'
import { takeBenchLock } from './lib/lock'
import { waitForQuiet } from './lib/machine'
import { percentile } from './lib/stats'

const PINGERS = Number(process.env.PINGERS ?? 50)
const PING_MS = Number(process.env.PING_MS ?? 50)
const BURST = Number(process.env.BURST ?? 100)
const BURST_MS = Number(process.env.BURST_MS ?? 500)
const DOC_KB = Number(process.env.DOC_KB ?? 128)
const SECONDS = Number(process.env.SECONDS ?? 5)

// ---- the server: run as a child with `--server` -----------------------------------------------

/** CPU time of a `process.cpuUsage()` difference, user and system, in ms. */
function cpuMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000
}

/** perf_hooks' GC kinds (`PerformanceEntry.detail.kind`), by the name the report prints. */
const GC_KINDS: Record<number, string> = { 1: 'scavenge', 2: 'minor-mc', 4: 'mark-compact', 8: 'incremental', 16: 'weak-cb' }

async function runServer(): Promise<void> {
  // Loaded here: the driver never loads the demo (its `talk` import resolves only in the built child).
  const { documentsApp } = await import('../examples/documents/app')
  const app = documentsApp({ logger: pino({ level: 'silent' }) })
  const { port } = await app.listen(0, '127.0.0.1')
  // The server's own event-loop delay per phase: what the server made a ping wait, apart from the machine.
  const delay = monitorEventLoopDelay({ resolution: 1 })
  delay.enable()
  // And its garbage collections' pauses, the usual other cause of a stalled loop.
  let gcMs = 0
  let gcMax = 0
  // Per kind (scavenge, mark-compact, incremental marking, weak callbacks): count and ms.
  let gcKinds: Record<string, { count: number; ms: number }> = {}
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcMs += entry.duration
      gcMax = Math.max(gcMax, entry.duration)
      const kind = GC_KINDS[(entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0] ?? 'other'
      const seen = (gcKinds[kind] ??= { count: 0, ms: 0 })
      seen.count++
      seen.ms += entry.duration
    }
  }).observe({ entryTypes: ['gc'] })
  // The server's CPU time over a phase: what the noisy client's requests cost, apart from the machine's load.
  let cpuAtReset = process.cpuUsage()
  process.on('message', (message) => {
    if (message === 'loop-reset') {
      cpuAtReset = process.cpuUsage()
      delay.reset()
      gcMs = 0
      gcMax = 0
      gcKinds = {}
    }
    if (message === 'loop-report') process.send?.({ loop: { p99: delay.percentile(99) / 1e6, max: delay.max / 1e6, gcMs, gcMax, gcKinds, cpuMs: cpuMs(process.cpuUsage(cpuAtReset)) } })
  })
  process.send?.({ port })
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)))
}

// ---- the driver -----------------------------------------------------------------------------

function startServer(): Promise<{ child: ChildProcess; url: string; builder: Builder; launch: Launch }> {
  const builder = new Builder()
  const launch = builder.launch(__filename, 'noisy-neighbour')
  // BENCH_PROFILE_DIR=dir writes the server's CPU profile there, as for `npm run bench`.
  const profile = process.env['BENCH_PROFILE_DIR']
  const execArgv = profile === undefined || profile === '' ? launch.execArgv : [...launch.execArgv, '--cpu-prof', `--cpu-prof-dir=${profile}`]
  const child = fork(launch.file, ['--server'], { execArgv, env: launch.env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited (${String(code)})`)))
    child.once('message', (m: { port: number }) => resolve({ child, url: `ws://127.0.0.1:${m.port}`, builder, launch }))
  })
}

/** A connection whose replies are matched by order (it sends only requests, and pushes are skipped). */
interface Client {
  ws: WebSocket
  request(frame: object): Promise<Record<string, unknown>>
  send(frame: object): Promise<Record<string, unknown>>
}

function open(url: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    const waiting: ((reply: Record<string, unknown>) => void)[] = []
    const client: Client = {
      ws,
      request: (frame) => client.send(frame),
      send: (frame) =>
        new Promise((done) => {
          waiting.push(done)
          ws.send(JSON.stringify(frame))
        }),
    }
    ws.once('message', () => {
      ws.on('message', (data) => {
        const frame = JSON.parse(data.toString()) as Record<string, unknown>
        if (frame.status !== undefined) waiting.shift()?.(frame)
      })
      resolve(client)
    })
    ws.once('error', reject)
  })
}

/** Creates document `big` of about `DOC_KB` KB (nodes of about 2 KB, the demo's cap on a node's fields), as far as the demo lets it grow (500 nodes). */
async function bigDocument(client: Client): Promise<number> {
  await client.request({ command: 'document:create', id: 'big' })
  const data: Record<string, string> = {}
  for (let f = 0; f < 4; f++) data[`f${f}`] = 'x'.repeat(490)
  const nodes = Math.ceil((DOC_KB * 1024) / 2000)
  for (let n = 0; n < nodes; n++) {
    const reply = await client.request({ command: 'node:create', type: 'task', data })
    if (reply.status !== 'success') break
  }
  const got = await client.request({ command: 'document:get', id: 'big' })
  return JSON.stringify(got).length
}

/** The pingers' round trips over `SECONDS`, in ms. */
async function pingFor(pingers: Client[]): Promise<number[]> {
  const rtts: number[] = []
  const end = performance.now() + SECONDS * 1000
  await Promise.all(pingers.map(async (pinger, i) => {
    // Staggered, so the pings spread over the interval.
    await new Promise((r) => setTimeout(r, (i * PING_MS) / pingers.length))
    while (performance.now() < end) {
      const start = performance.now()
      await pinger.request({ command: 'talk:ping' })
      rtts.push(performance.now() - start)
      await new Promise((r) => setTimeout(r, PING_MS))
    }
  }))
  return rtts
}

/**
 * The noisy client, run as a child with `--noisy <url>` so that reading its big replies costs the
 * pingers' process nothing: sends `BURST` gets every 100 ms for `SECONDS`, then reports its replies
 * by status (told apart by their first bytes, not parsed).
 */
async function runNoisy(url: string): Promise<void> {
  const ws = new WebSocket(url)
  await new Promise((resolve) => ws.once('message', resolve))
  const counts: Record<string, number> = {}
  let sent = 0
  let answered = 0
  ws.on('message', (data: Buffer) => {
    const head = data.subarray(0, 40).toString()
    if (!head.startsWith('{"status"')) return
    const key = head.startsWith('{"status":"success"') ? 'success' : (/"code":"([A-Z_]+)"/.exec(data.subarray(0, 200).toString())?.[1] ?? 'error')
    counts[key] = (counts[key] ?? 0) + 1
    answered++
  })
  // A close (4900 for a reader too slow for what it asks) ends the wait and is reported with the replies.
  let closed = false
  ws.on('close', (code: number) => {
    counts[`closed ${code}`] = 1
    closed = true
  })
  const frame = JSON.stringify({ command: 'document:get', id: 'big' })
  process.send?.('ready')
  const end = performance.now() + SECONDS * 1000
  while (performance.now() < end && !closed) {
    for (let i = 0; i < BURST; i++) ws.send(frame)
    sent += BURST
    await new Promise((resolve) => setTimeout(resolve, BURST_MS))
  }
  const until = performance.now() + 30_000
  while (answered < sent && !closed && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 10))
  process.send?.({ sent, counts })
  ws.terminate()
}

/** Starts the noisy client's process; resolves once it sends, with a promise of its report. */
function startNoisy(launch: Launch, url: string): Promise<{ done: Promise<{ sent: number; counts: Record<string, number> }> }> {
  const child = fork(launch.file, ['--noisy', url], { execArgv: launch.execArgv, env: launch.env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`noisy client exited (${String(code)})`)))
    child.once('message', () => {
      resolve({ done: new Promise((report) => child.once('message', (m: { sent: number; counts: Record<string, number> }) => report(m))) })
    })
  })
}

function line(label: string, rtts: number[]): string {
  return `| ${label.padEnd(26)} | ${String(rtts.length).padStart(6)} | ${percentile(rtts, 50).toFixed(2).padStart(6)} | ${percentile(rtts, 99).toFixed(2).padStart(7)} | ${Math.max(...rtts).toFixed(1).padStart(7)} |`
}

/** The server's event-loop delay over a phase, in ms. */
interface Loop {
  p99: number
  max: number
  /** Time in garbage collection over the phase, and the longest pause, ms. */
  gcMs: number
  gcMax: number
  /** The server's CPU time over the phase (all its threads), ms. */
  cpuMs: number
  /** The same by kind: how many collections and their ms. */
  gcKinds: Record<string, { count: number; ms: number }>
}

/** Asks the server child for its event-loop delay since the last reset. */
function loopReport(child: ChildProcess): Promise<Loop> {
  return new Promise((resolve) => {
    const onMessage = (message: { loop?: Loop }): void => {
      if (message.loop === undefined) return
      child.off('message', onMessage)
      resolve(message.loop)
    }
    child.on('message', onMessage)
    child.send('loop-report')
  })
}

async function main(): Promise<void> {
  const release = await takeBenchLock(15 * 60_000)
  await waitForQuiet(Number(process.env.QUIET_MS ?? 20_000))
  const { child, url, builder, launch } = await startServer()
  try {
    const owner = await open(url)
    const bytes = await bigDocument(owner)
    owner.ws.terminate()
    const pingers: Client[] = []
    for (let i = 0; i < PINGERS; i++) pingers.push(await open(url))
    await pingFor(pingers.slice(0, 5)) // warm-up
    child.send('loop-reset')
    const idle = await pingFor(pingers)
    const idleLoop = await loopReport(child)
    const noisy = await startNoisy(launch, url)
    child.send('loop-reset')
    const busy = await pingFor(pingers)
    const busyLoop = await loopReport(child)
    const { sent, counts } = await noisy.done
    const ratio = percentile(busy, 99) / percentile(idle, 99)
    console.log(`\nnoisy neighbour: ${PINGERS} pingers every ${PING_MS} ms; one client sends document:get of a ${Math.round(bytes / 1024)} KB reply, ${BURST} every ${BURST_MS} ms; ${SECONDS} s each; node ${process.version}\n`)
    console.log('| pingers                    | pings  | p50 ms | p99 ms  | max ms  |')
    console.log('|----------------------------|--------|--------|---------|---------|')
    console.log(line('idle', idle))
    console.log(line('beside the noisy client', busy))
    console.log(`\nnoisy p99 / idle p99 = ${ratio.toFixed(2)} (goal < 2); noisy client: ${sent} sent, replies ${JSON.stringify(counts)}`)
    const kinds = (loop: Loop): string => Object.entries(loop.gcKinds).map(([kind, k]) => `${kind} ${k.count}× ${k.ms.toFixed(0)} ms`).join(', ')
    const ms = (loop: Loop): string => `p99 ${loop.p99.toFixed(1)} ms, max ${loop.max.toFixed(1)} ms (GC ${loop.gcMs.toFixed(0)} ms in all, longest ${loop.gcMax.toFixed(1)} ms: ${kinds(loop)})`
    console.log(`server event-loop delay: idle ${ms(idleLoop)}; beside the noisy client ${ms(busyLoop)}`)
    // Not divided per get: a busy server answers pings for less CPU than an idle one woken for each.
    console.log(`server CPU time: idle ${idleLoop.cpuMs.toFixed(0)} ms, beside the noisy client ${busyLoop.cpuMs.toFixed(0)} ms`)
    for (const c of pingers) c.ws.terminate()
  } finally {
    child.kill('SIGTERM')
    builder.dispose()
    release?.()
  }
}

if (process.argv.includes('--server')) void runServer()
else if (process.argv.includes('--noisy')) void runNoisy(process.argv[process.argv.indexOf('--noisy') + 1] as string)
else main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})

