import { fork, type ChildProcess } from 'node:child_process'
import * as path from 'node:path'
import {
  isMessage,
  type FailedMessage,
  type Measurement,
  type ProbeMessage,
  type ProbeResultMessage,
  type ReadyMessage,
  type ResultMessage,
} from './ipc'
import type { Launch } from './build'
import type { Job } from './scenarios'

const START_TIMEOUT_MS = 30_000

/** A target's server process, listening. */
export interface RunningTarget {
  child: ChildProcess
  port: number
}

/** Extra flags for server processes: BENCH_PROFILE_DIR=dir writes a CPU profile of each server to dir/<scenario>/<target>/. */
function profileFlags(profile: string): string[] {
  const dir = process.env['BENCH_PROFILE_DIR']
  return dir === undefined || dir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${path.join(dir, profile)}`]
}

/**
 * Starts a target as its own process (with `--expose-gc`); resolves once it listens, rejects with the
 * reason it did not. `profile` (`<scenario>/<target>`) is where its CPU profile goes, if any.
 */
export function startTarget(target: Launch, profile: string): Promise<RunningTarget> {
  const child = fork(target.file, [], {
    execArgv: [...target.execArgv, '--expose-gc', ...profileFlags(profile)],
    env: target.env,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  })
  const stderr = tail(child)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(`no ready message within ${START_TIMEOUT_MS / 1000}s`), START_TIMEOUT_MS)
    function fail(reason: string): void {
      clearTimeout(timer)
      child.kill('SIGKILL')
      const said = gist(stderr())
      reject(new Error(said ? `${reason}: ${said}` : reason))
    }
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => fail(`exited (${exitText(code, signal)}) before listening`)
    const onError = (error: Error): void => fail(error.message)
    child.once('exit', onExit)
    child.once('error', onError)
    child.on('message', function onReady(message: unknown) {
      if (!isMessage<ReadyMessage>(message, 'ready')) return
      clearTimeout(timer)
      child.off('exit', onExit).off('error', onError).off('message', onReady)
      resolve({ child, port: message.port })
    })
  })
}

/** Runs one scenario in a fresh load-generator process, relaying its probes to the server; rejects on failure or timeout. */
export async function runLoad(generator: Launch, job: Job, server: RunningTarget, timeoutMs: number): Promise<Measurement> {
  const load = fork(generator.file, [], {
    execArgv: generator.execArgv,
    env: { ...generator.env, BENCH_JOB: JSON.stringify(job) },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  })
  const stderr = tail(load)
  const toServer = (message: unknown): void => {
    if (isMessage<ProbeMessage>(message, 'probe') && server.child.connected) server.child.send(message)
  }
  const toLoad = (message: unknown): void => {
    if (isMessage<ProbeResultMessage>(message, 'probe-result') && load.connected) load.send(message)
  }
  let onServerExit: ((code: number | null, signal: NodeJS.Signals | null) => void) | undefined
  let timer: NodeJS.Timeout | undefined
  load.on('message', toServer)
  server.child.on('message', toLoad)
  try {
    return await new Promise<Measurement>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs / 1000}s`)), timeoutMs)
      load.on('message', (message: unknown) => {
        if (isMessage<ResultMessage>(message, 'result')) resolve(message.result)
        if (isMessage<FailedMessage>(message, 'failed')) reject(new Error(message.error))
      })
      load.once('error', reject)
      load.once('exit', (code, signal) => {
        const said = gist(stderr())
        reject(new Error(`load generator exited (${exitText(code, signal)})${said ? `: ${said}` : ''}`))
      })
      onServerExit = (code, signal) => reject(new Error(`server exited mid-run (${exitText(code, signal)})`))
      server.child.once('exit', onServerExit)
    })
  } finally {
    clearTimeout(timer)
    server.child.off('message', toLoad)
    if (onServerExit) server.child.off('exit', onServerExit)
    await stopProcess(load)
  }
}

/** Ends a child: SIGTERM, then SIGKILL if it is still there after 3 s. Resolves once it has exited. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(timer)
}

function exitText(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ?? `code ${String(code)}`
}

/** The error line of a crash report and where it was thrown, or the last line when there is no error line. */
function gist(stderr: string): string {
  const lines = stderr.split('\n').map((line) => line.trim()).filter((line) => line !== '')
  const error = lines.find((line) => /^\w*(Error|Exception)\b/.test(line))
  if (error === undefined) return lines.at(-1) ?? ''
  const where = lines.find((line) => line.startsWith('at '))
  return where === undefined ? error : `${error} (${where})`
}

/** Keeps the last few KB a child writes to stderr, for failure reports. */
function tail(child: ChildProcess): () => string {
  let text = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-4000)
  })
  return () => text
}
