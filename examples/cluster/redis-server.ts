import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'

/** A throwaway `redis-server` for the local cluster: nothing persisted, removed on stop. */
export interface LocalRedis {
  url: string
  /** The server's process id; it leads a process group of its own. */
  pid: number
  stop(): Promise<void>
}

/**
 * Starts `redis-server` (from PATH, or `binary`) on `port` in a temp dir, persisting nothing, and
 * resolves once it accepts connections. Rejects with its output when it cannot start. The server
 * runs in a process group of its own, so a Ctrl-C at the terminal does not reach it: the launcher
 * stops the nodes first, then Redis (and kills it should the launcher exit without stopping it).
 */
export function startLocalRedis(port: number, binary = 'redis-server'): Promise<LocalRedis> {
  const dir = mkdtempSync(path.join(tmpdir(), 'talk-cluster-redis-'))
  const child: ChildProcess = spawn(binary, [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--loglevel', 'notice',
  ], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const running = (): boolean => child.exitCode === null && child.signalCode === null
  // Its own process group outlives us unless told: an exit without stop() (an uncaught error) takes it along.
  const orphaned = (): void => {
    if (running()) child.kill('SIGKILL')
  }
  process.once('exit', orphaned)
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    process.off('exit', orphaned)
    resolve()
  }))
  const stop = async (): Promise<void> => {
    if (running()) child.kill('SIGTERM')
    await exited
    rmSync(dir, { recursive: true, force: true })
  }
  return new Promise((resolve, reject) => {
    let said = ''
    const onData = (chunk: Buffer): void => {
      said = (said + chunk.toString()).slice(-4000)
      if (!said.includes('Ready to accept connections')) return
      child.stdout?.off('data', onData)
      child.stdout?.resume()
      resolve({ url: `redis://127.0.0.1:${port}`, pid: child.pid as number, stop })
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('error', (err) => {
      rmSync(dir, { recursive: true, force: true })
      reject(new Error(`cannot run ${binary} (${err.message}): install Redis or set REDIS_URL`))
    })
    child.once('exit', (code) => {
      rmSync(dir, { recursive: true, force: true })
      reject(new Error(`${binary} exited (${String(code)}): ${said.trim().slice(-500)}`))
    })
  })
}
