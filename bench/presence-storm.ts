/**
 * Presence storm: CLIENTS clients (default 1,000) open one document of the documents demo as fast as
 * they can, then half of them close their tabs at once, while a bystander with another document open
 * pings the server every PING_MS. Reports the bytes of `document:users` pushes all clients received,
 * how long until every client's list of active users was complete, the 4900 (slow consumer) closes,
 * and the bystander's round trip p50 / p99 / max, idle and during the storm (goal: p99 under 100 ms).
 *
 * The demo server and the bystander each run in their own process; this one drives the crowd.
 *
 *   npm run bench:presence
 *   CLIENTS=400 npm run bench:presence
 *   BENCH_BASE=../before CLIENTS=400 npm run bench:presence   # the demo and lib/ of another checkout
 */
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import pino from 'pino'
import WebSocket from 'ws'
import { takeBenchLock } from './lib/lock'
import { percentile } from './lib/stats'

const CLIENTS = Number(process.env.CLIENTS ?? 1000)
const PING_MS = Number(process.env.PING_MS ?? 20)
/** Sockets opening at once; each sends its document:get as soon as it is welcomed. */
const OPENING = Number(process.env.OPENING ?? 100)
const BASE = process.env.BENCH_BASE
const ROOT = path.join(__dirname, '..')

// ---- the demo server: a child with `--server` --------------------------------------------------

async function runServer(): Promise<void> {
  // Bundled by esbuild (below): `talk` and the demo come from this checkout or from BENCH_BASE.
  const { documentsApp } = await import('../examples/documents/app')
  const app = documentsApp({ logger: pino({ level: 'silent' }) })
  const { port } = await app.listen(0, '127.0.0.1')
  // How long the server's event loop was held: what every client's latency sits on.
  const delay = monitorEventLoopDelay({ resolution: 5 })
  delay.enable()
  process.on('message', (m: { phase: string }) => {
    if (m.phase !== 'report') return
    process.send?.({ loop: { p50: delay.percentile(50) / 1e6, p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 } })
    delay.reset()
  })
  process.send?.({ port })
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)))
}

// ---- the bystander: a child with `--bystander <url>` -------------------------------------------

async function runBystander(url: string): Promise<void> {
  const ws = await open(url)
  await request(ws, { command: 'document:create', id: 'quiet' })
  const rtts: number[] = []
  let stopped = false
  process.on('message', (m: { phase: string }) => {
    if (m.phase === 'report') {
      process.send?.({ rtts: rtts.splice(0) })
    } else if (m.phase === 'stop') {
      stopped = true
      ws.close()
    }
  })
  process.send?.({ ready: true })
  let n = 0
  while (!stopped) {
    const start = performance.now()
    await request(ws, { route: 'talk/ping', ref: `p${n++}` })
    const rtt = performance.now() - start
    rtts.push(rtt)
    if (rtt < PING_MS) await new Promise((resolve) => setTimeout(resolve, PING_MS - rtt))
  }
}

// ---- the driver ----------------------------------------------------------------------------------

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.once('message', () => resolve(ws)) // the welcome
    ws.once('error', reject)
  })
}

/** Sends a request and resolves on its reply (the next frame with a status; pushes are skipped). */
function request(ws: WebSocket, frame: object): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const onMessage = (data: Buffer): void => {
      const reply = JSON.parse(data.toString()) as Record<string, unknown>
      if (!('status' in reply)) return
      ws.off('message', onMessage)
      resolve(reply)
    }
    ws.on('message', onMessage)
    ws.send(JSON.stringify(frame))
  })
}

/** Builds this file with esbuild for the children: `talk` and the demo from `root` (this checkout or BENCH_BASE). */
function build(root: string, dir: string): string {
  const esbuild = require('esbuild') as typeof import('esbuild')
  const outfile = path.join(dir, 'presence-storm.js')
  const demo = path.join(ROOT, 'examples', 'documents', 'app')
  esbuild.buildSync({
    entryPoints: [__filename],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    packages: 'external',
    tsconfig: path.join(root, 'tsconfig.json'),
    logLevel: 'silent',
    plugins: root === ROOT ? [] : [{
      name: 'base',
      setup(b) {
        // The demo and the package it imports, from the other checkout.
        b.onResolve({ filter: /^talk$/ }, () => ({ path: path.join(root, 'lib', 'index.ts') }))
        b.onResolve({ filter: /examples\/documents\/app$/ }, (args) =>
          path.resolve(args.resolveDir, args.path) === demo ? { path: path.join(root, 'examples', 'documents', 'app.ts') } : undefined)
      },
    }],
  })
  return outfile
}

function child(file: string, args: string[]): ChildProcess {
  return fork(file, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') } })
}

function message<T>(proc: ChildProcess, test: (m: T) => boolean): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`child exited (${String(code)})`))
    const onMessage = (m: T): void => {
      if (!test(m)) return
      proc.off('message', onMessage)
      proc.off('exit', onExit)
      resolve(m)
    }
    proc.on('message', onMessage)
    proc.once('exit', onExit)
  })
}

interface Member {
  ws: WebSocket
  name: string
  /** Whether this member keeps its list of active users (one in TRACK_EVERY): parsing every push in this process would starve the server of CPU. */
  tracked: boolean
  users: Set<string> | undefined
  bytes: number
  frames: number
  closedWith: number | undefined
  onChange: (() => void) | undefined
}

/** One member in this many keeps its list; the others count bytes only. */
const TRACK_EVERY = 10

function member(ws: WebSocket, name: string, index: number): Member {
  const m: Member = { ws, name, tracked: index % TRACK_EVERY === 0, users: undefined, bytes: 0, frames: 0, closedWith: undefined, onChange: undefined }
  ws.on('close', (code) => (m.closedWith = code))
  ws.on('message', (data: Buffer) => {
    // Pushes are told from replies by their first bytes: Talk writes `command` first, replies `status`.
    const isPresence = data.length > 27 && data.toString('latin1', 0, 27) === '{"command":"document:users"'
    if (isPresence) {
      m.bytes += data.length
      m.frames++
    }
    if (!m.tracked) return
    const frame = JSON.parse(data.toString()) as { status?: string; 'active-users'?: string[]; joined?: string[]; left?: string[] }
    if (!isPresence && frame.status === undefined) return
    if (!isPresence && frame['active-users'] !== undefined) m.users = new Set(frame['active-users'])
    if (isPresence && m.users !== undefined) {
      // Full lists (the demo before deltas) or deltas, whichever this server sends.
      if (frame['active-users'] !== undefined) m.users = new Set(frame['active-users'])
      for (const user of frame.left ?? []) m.users.delete(user)
      for (const user of frame.joined ?? []) m.users.add(user)
    }
    m.onChange?.()
  })
  return m
}

/**
 * Resolves when every tracked member's list has `size` names, then when every member has answered
 * one more round trip: pushes to a socket keep their order, so by then every push has arrived.
 */
async function complete(members: Member[], size: number): Promise<void> {
  await Promise.all(members.filter((m) => m.tracked).map((m) => new Promise<void>((resolve) => {
    const check = (): void => {
      if (m.users?.size !== size && m.closedWith === undefined) return
      m.onChange = undefined
      resolve()
    }
    m.onChange = check
    m.ws.once('close', check)
    check()
  })))
  await Promise.all(members.filter((m) => m.closedWith === undefined).map((m) => request(m.ws, { route: 'talk/ping', ref: 'sync' })))
}

interface Loop {
  p50: number
  p99: number
  max: number
}

function stats({ rtts, loop }: { rtts: number[]; loop: Loop }): string {
  const f = (x: number): string => x.toFixed(1)
  return `ping p50 ${f(percentile(rtts, 50))} ms, p99 ${f(percentile(rtts, 99))} ms, max ${f(Math.max(...rtts))} ms (${rtts.length} pings); ` +
    `server loop delay p99 ${f(loop.p99)} ms, max ${f(loop.max)} ms`
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`
}

async function main(): Promise<void> {
  const release = await takeBenchLock(15 * 60_000)
  const dir = mkdtempSync(path.join(os.tmpdir(), 'talk-presence-'))
  const file = build(BASE === undefined ? ROOT : path.resolve(BASE), dir)
  const server = child(file, ['--server'])
  const { port } = await message<{ port?: number }>(server, (m) => m.port !== undefined)
  const url = `ws://127.0.0.1:${String(port)}`
  const bystander = child(file, ['--bystander', url])
  await message<{ ready?: boolean }>(bystander, (m) => m.ready === true)
  /** The bystander's round trips and the server's event-loop delay since the last report. */
  const report = async (): Promise<{ rtts: number[]; loop: Loop }> => {
    bystander.send({ phase: 'report' })
    server.send({ phase: 'report' })
    const [rtts, loop] = await Promise.all([
      message<{ rtts?: number[] }>(bystander, (m) => m.rtts !== undefined),
      message<{ loop?: Loop }>(server, (m) => m.loop !== undefined),
    ])
    return { rtts: rtts.rtts ?? [], loop: loop.loop as Loop }
  }
  console.log(`presence storm: ${CLIENTS} clients, one document, ${BASE === undefined ? 'this checkout' : `BENCH_BASE=${BASE}`}; Node ${process.version}, ${os.cpus().length} cores`)

  await report() // start-up (module loading) is not idle time
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const idle = await report()

  // Joins: the first client creates the document, the rest open it, OPENING sockets at a time.
  const started = performance.now()
  const members: Member[] = []
  const first = member(await open(`${url}/?user=u0000`), 'u0000', 0)
  members.push(first)
  await request(first.ws, { command: 'document:create', id: 'storm' })
  await request(first.ws, { command: 'document:get', id: 'storm' })
  for (let i = 1; i < CLIENTS; i += OPENING) {
    await Promise.all(Array.from({ length: Math.min(OPENING, CLIENTS - i) }, async (_, k) => {
      const name = `u${String(i + k).padStart(4, '0')}`
      const m = member(await open(`${url}/?user=${name}`), name, i + k)
      members.push(m)
      m.ws.send(JSON.stringify({ command: 'document:get', id: 'storm' }))
    }))
  }
  await complete(members, CLIENTS)
  const joinMs = performance.now() - started
  const joinBytes = members.reduce((sum, m) => sum + m.bytes, 0)
  const joinFrames = members.reduce((sum, m) => sum + m.frames, 0)
  const duringJoins = await report()

  // Leaves: every other client closes its tab at once (ws.close(): a goodbye).
  const staying = members.filter((_, i) => i % 2 === 0 && members[i]?.closedWith === undefined)
  for (const m of staying) {
    m.bytes = 0
    m.frames = 0
  }
  const leaveStart = performance.now()
  for (const [i, m] of members.entries()) if (i % 2 === 1) m.ws.close()
  await complete(staying, staying.length)
  const leaveMs = performance.now() - leaveStart
  const leaveBytes = staying.reduce((sum, m) => sum + m.bytes, 0)
  const leaveFrames = staying.reduce((sum, m) => sum + m.frames, 0)
  const duringLeaves = await report()
  const slow = members.filter((m) => m.closedWith === 4900).length

  console.log(`joins:  ${CLIENTS} clients, every list complete in ${(joinMs / 1000).toFixed(2)} s; presence pushes ${joinFrames} frames, ${mb(joinBytes)}`)
  console.log(`leaves: ${CLIENTS - staying.length} closed at once, ${staying.length} lists complete in ${(leaveMs / 1000).toFixed(2)} s; presence pushes ${leaveFrames} frames, ${mb(leaveBytes)}`)
  console.log(`closed as slow consumers (4900): ${slow}`)
  console.log(`bystander idle:          ${stats(idle)}`)
  console.log(`bystander during joins:  ${stats(duringJoins)}`)
  console.log(`bystander during leaves: ${stats(duringLeaves)}`)

  for (const m of members) m.ws.terminate()
  bystander.send({ phase: 'stop' })
  server.kill('SIGTERM')
  await Promise.all([server, bystander].map((p) => new Promise((resolve) => p.once('exit', resolve))))
  rmSync(dir, { recursive: true, force: true })
  release?.()
}

const [mode, arg] = process.argv.slice(2)
const run = mode === '--server' ? runServer() : mode === '--bystander' ? runBystander(String(arg)) : main()
run.catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
