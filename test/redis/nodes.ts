import { fork, type ChildProcess } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
import * as path from 'node:path'
import { buildSync } from 'esbuild'
import type { RedisAdapterStats } from '../../lib/adapters/redis'
import type { Frame, TestClient } from '../../lib/testing'

const ROOT = path.join(__dirname, '..', '..')
// Inside node_modules, so the bundle's require('ioredis') finds the project's packages.
const OUT_DIR = path.join(ROOT, 'node_modules', '.cache', 'talk-redis-tests')

/**
 * Bundles a script of this folder (default ./node-process.ts) into one JS file (esbuild, packages
 * left external, `talk` mapped to lib/ by tsconfig paths) so each node process starts in a fraction
 * of a second instead of compiling TypeScript. Returns its path.
 */
export function buildNodeScript(entry = 'node-process.ts'): string {
  mkdirSync(OUT_DIR, { recursive: true })
  const outfile = path.join(OUT_DIR, `${path.basename(entry, '.ts')}-${process.pid}-${Date.now()}.js`)
  buildSync({
    entryPoints: [path.join(__dirname, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
    logLevel: 'error',
  })
  return outfile
}

/** Removes a bundle made by buildNodeScript(). */
export function removeNodeScript(file: string): void {
  rmSync(file, { force: true })
}

/** Settings of one node process. */
export interface NodeSettings {
  redisUrl: string
  prefix: string
  leaseMs: number
  /** Push presence:join / presence:leave (default false). */
  presenceEvents?: boolean
  /** The adapter's `roomChannels` option (default false). */
  roomChannels?: boolean
  /** `talk({ resume: true })` (default false). */
  resume?: boolean
}

/** A running Talk node process. */
export class TalkNode {
  private nextId = 1
  private stderr = ''
  /** Set once the process has exited: how. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined

  private constructor(
    readonly child: ChildProcess,
    /** ws:// URL of the node. */
    readonly url: string,
    readonly nodeId: string,
  ) {
    child.once('exit', (code, signal) => {
      this.exit = { code, signal }
    })
  }

  /** Forks a node and resolves once it listens. */
  static start(script: string, settings: NodeSettings): Promise<TalkNode> {
    const child = fork(script, [], {
      env: { ...process.env, REDIS_URL: settings.redisUrl, TALK_PREFIX: settings.prefix, TALK_LEASE_MS: String(settings.leaseMs), TALK_PRESENCE_EVENTS: settings.presenceEvents === true ? '1' : '0', TALK_ROOM_CHANNELS: settings.roomChannels === true ? '1' : '0', TALK_RESUME: settings.resume === true ? '1' : '0' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    })
    let said = ''
    child.stderr?.on('data', (chunk: Buffer) => {
      said = (said + chunk.toString()).slice(-4000)
    })
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
        reject(new Error(`node process exited (${String(code ?? signal)}) before listening: ${said.trim()}`))
      child.once('exit', onExit)
      child.on('message', function onReady(message: unknown) {
        const m = message as { type?: unknown; port?: unknown; nodeId?: unknown }
        if (m.type !== 'ready' || typeof m.port !== 'number' || typeof m.nodeId !== 'string') return
        child.off('exit', onExit).off('message', onReady)
        const node = new TalkNode(child, `ws://127.0.0.1:${m.port}`, m.nodeId)
        child.stderr?.on('data', (chunk: Buffer) => {
          node.stderr = (node.stderr + chunk.toString()).slice(-4000)
        })
        resolve(node)
      })
    })
  }

  /** Whether the process is still running. */
  get alive(): boolean {
    return this.exit === undefined
  }

  /** The last few KB the process wrote to stderr (its warnings and errors). */
  get log(): string {
    return this.stderr
  }

  /** The node's adapter counters. */
  stats(): Promise<RedisAdapterStats> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const onExit = (): void => reject(new Error('node process exited'))
      const onMessage = (message: unknown): void => {
        const m = message as { type?: unknown; id?: unknown; stats?: RedisAdapterStats }
        if (m.type !== 'stats' || m.id !== id || m.stats === undefined) return
        this.child.off('message', onMessage).off('exit', onExit)
        resolve(m.stats)
      }
      this.child.on('message', onMessage)
      this.child.once('exit', onExit)
      this.child.send({ type: 'stats', id })
    })
  }

  /** Polls the counters until `test` holds (the adapter reports no event for it); rejects after `timeout` ms. */
  async waitForStats(test: (stats: RedisAdapterStats) => boolean, timeout = 10_000): Promise<RedisAdapterStats> {
    const deadline = Date.now() + timeout
    for (;;) {
      const stats = await this.stats()
      if (test(stats)) return stats
      if (Date.now() > deadline) throw new Error(`stats never matched: ${JSON.stringify(stats)}`)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }

  /** Sends a signal and resolves once the process has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.alive) return
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
    this.child.kill(signal)
    await exited
  }
}

/** The next push that `wanted` accepts; the ones before it are dropped (presence events racing across nodes, say). */
export async function nextPushWhere(client: TestClient, wanted: (frame: Frame) => boolean): Promise<Frame> {
  for (;;) {
    const frame = await client.nextPush()
    if (wanted(frame)) return frame
  }
}

/** The next push that is not a presence event: the order of those against pushes from other nodes is not fixed. */
export function nextNonPresencePush(client: TestClient): Promise<Frame> {
  return nextPushWhere(client, (frame) => typeof frame.command !== 'string' || !frame.command.startsWith('presence:'))
}
