// Draining a real server process: SIGTERM during steady load. Every request sent gets exactly one
// reply, every client is closed with 1012 at a jittered moment, and the process exits 0 (installShutdown
// exits 1 past its hard deadline, so exit code 0 is also "within the deadline").
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { TestClient, type Frame } from '../../lib/testing'
import { httpGet } from './http'

const FIXTURE = join(__dirname, 'fixtures', 'drain-server.ts')
const HUNG_CLOSE = join(__dirname, 'fixtures', 'hung-close.ts')

type Exit = { code: number | null; signal: NodeJS.Signals | null }

/** A fixture in its own process (ts-node), its stderr kept and its exit awaited. */
interface Spawned {
  process: ChildProcess
  exited: Promise<Exit>
  stderr: () => string
}

interface Child extends Spawned {
  port: number
}

const ROOT = join(__dirname, '..', '..')

function spawnFixture(file: string, env: Record<string, string>): Spawned {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', file], {
    cwd: ROOT,
    env: { ...process.env, TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  return { process: child, exited, stderr: () => stderr }
}

async function startServer(): Promise<Child> {
  const spawned = spawnFixture(FIXTURE, { JITTER_MS: '500' })
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    spawned.process.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const line = out.split('\n')[0]
      if (out.includes('\n') && line !== undefined) resolve((JSON.parse(line) as { port: number }).port)
    })
    void spawned.exited.then(({ code }) => reject(new Error(`server exited with ${code}: ${spawned.stderr()}`)))
  })
  return { ...spawned, port }
}

/** One request as the load saw it. */
interface Sent {
  sentAt: number
  reply: Frame | undefined
}

describe('draining on SIGTERM (a real child process)', () => {
  let child: Child | undefined
  afterEach(() => {
    if (child?.process.exitCode === null) child.process.kill('SIGKILL')
  })

  it('answers every request, closes every client with 1012 and exits 0', async () => {
    child = await startServer()
    const url = `ws://127.0.0.1:${child.port}`
    const clients = await Promise.all(Array.from({ length: 20 }, () => TestClient.connect(url, { timeout: 15_000 })))
    const sent: Sent[] = []
    let signalledAt = Infinity
    let replies = 0
    let signalled!: () => void
    const signal = new Promise<void>((resolve) => (signalled = resolve))

    // Steady load: two requests in flight per client, each followed by the next, until the client is closed.
    const loops = clients.flatMap((client) =>
      [0, 1].map(async () => {
        let n = 0
        while (client.socket.readyState === client.socket.OPEN) {
          const entry: Sent = { sentAt: performance.now(), reply: undefined }
          sent.push(entry)
          // A request that crosses the server's close frame gets no reply: the close ends the wait.
          entry.reply = await Promise.race([client.request('work', { n: n++, ms: 5 + (n % 7) * 5 }), client.closed.then(() => undefined)])
          if (entry.reply === undefined) return
          if (++replies === 400) signalled()
        }
      }),
    )
    await signal
    signalledAt = performance.now()
    child.process.kill('SIGTERM')
    // The node stays up while it drains, and readiness says so once the signal has landed.
    let ready = await httpGet(child.port, '/readyz')
    for (let i = 0; i < 1000 && ready.status === 200; i++) ready = await httpGet(child.port, '/readyz')
    expect({ status: ready.status, body: JSON.parse(ready.text) }).toEqual({
      status: 503, body: { status: 'draining', connections: expect.any(Number), adapter: 'up', uptime: expect.any(Number) },
    })

    const closes = await Promise.all(clients.map((c) => c.closed))
    await Promise.all(loops)
    expect(closes).toEqual(clients.map(() => ({ code: 1012, reason: 'service restart' })))
    expect(await child.exited).toEqual({ code: 0, signal: null })

    const before = sent.filter((s) => s.sentAt < signalledAt)
    expect(before.length).toBeGreaterThanOrEqual(400)
    // Every request sent before the signal was answered: served, or told the node is going away.
    const unavailable = { status: 'error', ref: expect.any(Number), error: { code: 'UNAVAILABLE', message: 'Server is shutting down' } }
    for (const s of before) {
      expect(s.reply).toEqual(s.reply?.status === 'success' ? { status: 'success', ref: expect.any(Number), n: expect.any(Number) } : unavailable)
    }
    expect(before.filter((s) => s.reply?.status === 'success').length).toBeGreaterThan(before.length / 2)
    // Clients kept being served during the jitter window, until their own moment came.
    expect(sent.filter((s) => s.sentAt > signalledAt && s.reply?.status === 'success').length).toBeGreaterThan(0)
    expect(child.stderr()).toContain('drained')
  })

  it('drains with 1012 and exits 1 after an uncaught exception (installProcessHandlers)', async () => {
    child = await startServer()
    const c = await TestClient.connect(`ws://127.0.0.1:${child.port}`, { timeout: 15_000 })
    expect(await c.request('crash')).toEqual({ status: 'success', ref: 1 })
    expect(await c.closed).toEqual({ code: 1012, reason: 'service restart' })
    expect(await child.exited).toEqual({ code: 1, signal: null })
    expect(child.stderr()).toContain('boom outside the chain')
  })

  it.each(['signal', 'exception'])('exits 1 at the hard timeout when the close never finishes (%s)', async (fault) => {
    const hung = spawnFixture(HUNG_CLOSE, { FAULT: fault })
    const cutOff = setTimeout(() => hung.process.kill('SIGKILL'), 10_000)
    const exited = await hung.exited
    clearTimeout(cutOff)
    expect(exited).toEqual({ code: 1, signal: null })
    expect(hung.stderr()).toContain('drain did not finish in time')
  })
})
