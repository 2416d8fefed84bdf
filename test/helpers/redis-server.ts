import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import * as path from 'node:path'

/** Where Redis for tests comes from: a `redis-server` binary we start ourselves, or `REDIS_URL`. */
export type RedisSource = { kind: 'binary'; binary: string } | { kind: 'url'; url: string } | { kind: 'none'; reason: string }

/** Finds a `redis-server` on PATH (or `REDIS_SERVER`); else `REDIS_URL`; else why there is no Redis. */
export function redisSource(): RedisSource {
  const candidates = process.env.REDIS_SERVER !== undefined
    ? [process.env.REDIS_SERVER]
    : (process.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, 'redis-server'))
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK)
      return { kind: 'binary', binary: file }
    } catch {
      // not here
    }
  }
  const url = process.env.REDIS_URL
  if (url !== undefined && url !== '') return { kind: 'url', url }
  return { kind: 'none', reason: 'no redis-server on PATH and no REDIS_URL set' }
}

/**
 * `describe` for tests that need Redis: skipped with a printed reason when there is none, but under
 * `CI=true` a missing Redis is a failing test.
 */
export function describeRedis(name: string, body: (source: Exclude<RedisSource, { kind: 'none' }>) => void): void {
  const source = redisSource()
  if (source.kind !== 'none') {
    describe(name, () => body(source))
    return
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('has Redis to run against', () => {
        throw new Error(`Redis is required under CI=true: ${source.reason}`)
      })
    })
    return
  }
  console.warn(`skipping "${name}": ${source.reason}`)
  describe.skip(name, () => body({ kind: 'url', url: 'redis://127.0.0.1:6379' }))
}

/** A free TCP port on the loopback interface (the OS picks it; there is a small window before we bind it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/**
 * A `redis-server` of our own on a free port, in a temp dir, persisting nothing (`--save ""
 * --appendonly no`), so a restart starts empty, as a crashed cache would.
 */
export class RedisServer {
  private child: ChildProcess | undefined
  private readonly dir: string

  private constructor(
    private readonly binary: string,
    /** The port, kept across restarts. */
    readonly port: number,
  ) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'talk-redis-'))
  }

  /** Starts a server on a free port and resolves once it accepts connections. */
  static async start(binary: string): Promise<RedisServer> {
    for (let attempt = 1; ; attempt++) {
      const server = new RedisServer(binary, await freePort())
      try {
        await server.run()
        return server
      } catch (err) {
        server.cleanUp()
        // Another process may take the port between freePort() and the bind: try another one.
        if (attempt >= 3) throw err
      }
    }
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** Whether the server process is running. */
  get running(): boolean {
    return this.child !== undefined
  }

  /** Stops the server (SIGTERM; SIGKILL to `kill()`) and resolves once it has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child
    if (child === undefined) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill(signal)
    await exited
  }

  /** Kills the server at once, as a crash would. */
  kill(): Promise<void> {
    return this.stop('SIGKILL')
  }

  /** Starts the server again on the same port (empty: nothing was saved). */
  async restart(): Promise<void> {
    await this.stop()
    await this.run()
  }

  /** Stops the server and removes its temp dir. */
  async close(): Promise<void> {
    await this.stop()
    this.cleanUp()
  }

  private cleanUp(): void {
    rmSync(this.dir, { recursive: true, force: true })
  }

  private run(): Promise<void> {
    const child = spawn(this.binary, [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir,
      '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--loglevel', 'notice', '--daemonize', 'no',
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    child.once('exit', () => {
      if (this.child === child) this.child = undefined
    })
    return new Promise((resolve, reject) => {
      let said = ''
      const onData = (chunk: Buffer): void => {
        said = (said + chunk.toString()).slice(-4000)
        if (said.includes('Ready to accept connections')) {
          done()
          resolve()
        }
      }
      const onExit = (code: number | null): void => {
        done()
        reject(new Error(`redis-server exited (${String(code)}) before it was ready: ${said.trim().slice(-500)}`))
      }
      const done = (): void => {
        child.stdout?.off('data', onData)
        child.off('exit', onExit)
        // Keep draining its output so a chatty server never blocks on a full pipe.
        child.stdout?.resume()
        child.stderr?.resume()
      }
      child.stdout?.on('data', onData)
      child.stderr?.on('data', onData)
      child.once('exit', onExit)
    })
  }
}
