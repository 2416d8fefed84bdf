import { fork, type ChildProcess } from 'node:child_process'
import { startLocalRedis, type LocalRedis } from './redis-server'

/** Options of `startCluster()`. */
export interface ClusterOptions {
  /** One documents node per port (default 3000 and 3001; 0 picks a free port). */
  ports?: number[]
  /** Interface the nodes listen on (default `HOST`, else 127.0.0.1: the demo has no authentication). */
  host?: string
  /** Redis to share; when absent, a throwaway `redis-server` is started on `redisPort`. */
  redisUrl?: string
  /** Port of the throwaway Redis (default 6390). */
  redisPort?: number
  /** The node script to fork (default: the documents demo's server next to this file, .js or .ts). */
  nodeScript?: string
  /** Node options for the forks (default: ts-node's transpile-only hook when the script is .ts). */
  execArgv?: string[]
  /** Drop the nodes' output instead of passing it on (default false). */
  quiet?: boolean
}

/** A running local cluster. */
export interface Cluster {
  /** The page's http:// URL of each node. */
  urls: string[]
  redisUrl: string
  /** Process id of the Redis it started (in a process group of its own), if it started one. */
  redisPid: number | undefined
  /** Stops the nodes (gracefully, SIGTERM), then the Redis it started. */
  stop(): Promise<void>
}

const READY = /demo on (http:\/\/\S+)/

/**
 * Starts the documents demo as several nodes sharing one Redis, each its own process: open the page
 * on two ports and watch changes cross between them.
 *
 * @example
 * const cluster = await startCluster({ ports: [3000, 3001] })
 * console.log(cluster.urls)
 * await cluster.stop()
 */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const ports = options.ports ?? [3000, 3001]
  for (const port of ports) {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`startCluster(): ${String(port)} is not a port`)
  }
  const redis: LocalRedis | undefined = options.redisUrl === undefined ? await startLocalRedis(options.redisPort ?? 6390) : undefined
  const redisUrl = options.redisUrl ?? (redis as LocalRedis).url
  const host = options.host ?? (process.env.HOST === undefined || process.env.HOST === '' ? '127.0.0.1' : process.env.HOST)
  const script = options.nodeScript ?? require.resolve('../documents/server')
  const execArgv = options.execArgv ?? (script.endsWith('.ts') ? ['-r', 'ts-node/register/transpile-only'] : [])
  const children: ChildProcess[] = []
  const stop = async (): Promise<void> => {
    await Promise.all(children.map((child) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      child.once('exit', () => resolve())
      child.kill('SIGTERM')
    })))
    await redis?.stop()
  }
  try {
    const urls = await Promise.all(ports.map((port) => {
      const child = fork(script, [], { execArgv, env: { ...process.env, HOST: host, PORT: String(port), REDIS_URL: redisUrl }, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
      children.push(child)
      return new Promise<string>((resolve, reject) => {
        let said = ''
        let ready = false
        child.stdout?.on('data', (chunk: Buffer) => {
          // The node's own output (its log) goes on to ours once we know its URL.
          if (ready) {
            if (options.quiet !== true) process.stdout.write(chunk)
            return
          }
          said = (said + chunk.toString()).slice(-4000)
          const found = READY.exec(said)
          if (found?.[1] === undefined) return
          ready = true
          resolve(found[1])
        })
        child.once('exit', (code, signal) => reject(new Error(`node for port ${port} exited (${String(code ?? signal)}) before it listened`)))
      })
    }))
    return { urls, redisUrl, redisPid: redis?.pid, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/**
 * `npm run cluster`: two documents nodes on PORTS (default 3000,3001), listening on HOST (default
 * 127.0.0.1), with REDIS_URL or a Redis of its own on REDIS_PORT (default 6390), until SIGINT or SIGTERM. Ctrl-C reaches the
 * nodes (they close gracefully) but not that Redis, which stops after them. `options` override
 * what the environment says (the launcher test runs it with a bundled node).
 */
export async function runCluster(options: ClusterOptions = {}): Promise<void> {
  const ports = (process.env.PORTS ?? '3000,3001').split(',').map((p) => Number(p.trim()))
  const redisUrl = process.env.REDIS_URL === '' ? undefined : process.env.REDIS_URL
  const redisPort = process.env.REDIS_PORT === undefined || process.env.REDIS_PORT === '' ? undefined : Number(process.env.REDIS_PORT)
  // Listening from the start: a Ctrl-C while the nodes come up stops everything once they are up
  // (Node's default would end this process only, and leave Redis, in its own group, running).
  let cluster: Cluster | undefined
  let stopping = false
  const stop = (): void => {
    stopping = true
    const running = cluster
    if (running === undefined) return
    cluster = undefined
    running.stop().then(() => process.exit(0), (err: unknown) => {
      console.error(err)
      process.exit(1)
    })
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  cluster = await startCluster({ ports, redisUrl, redisPort, ...options })
  if (stopping) return stop()
  console.log(`Talk documents cluster: ${cluster.urls.join(' and ')}, one Redis at ${cluster.redisUrl}`)
  console.log('Open both pages: a change on one shows on the other. Ctrl-C stops everything.')
}

// Only as the entry script: bundled into another one (the launcher test's), `module` is the bundle's.
if (require.main === module && /main\.[jt]s$/.test(process.argv[1] ?? '')) {
  runCluster().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  })
}
