import { fork, type ChildProcess } from 'node:child_process'
import * as path from 'node:path'
import type { Builder, Launch } from '../lib/build'
import { fileLimit } from '../lib/file-limit'
import { machineBusyMicros } from '../lib/machine'
import { stopProcess } from '../lib/processes'
import { markdown } from '../lib/report'
import type { LoadJob } from './load'
import {
  isStormMessage,
  type LoadResult,
  type StormConnectedMessage,
  type StormDoneMessage,
  type StormProbeResultMessage,
  type StormPublishedMessage,
  type StormReadyMessage,
} from './messages'

/** How big the storm is. */
export interface StormSizes {
  /** Clients in all (BENCH_STORM_CLIENTS; default 10,000, quick 500). */
  clients: number
  /** Load processes the clients are split over (BENCH_STORM_LOADS; default 2). */
  loads: number
  /** Rooms the clients are spread over, one publisher each (default 100). */
  rooms: number
  /** Window over which the draining server closes its clients with 1012 (BENCH_STORM_JITTER_MS; default 1500). */
  jitterMs: number
  /** Rounds of raw-ws, talk (BENCH_STORM_ROUNDS; default 1). */
  rounds: number
}

/** One storm server: a file in bench/storm/ and the hand-written one its ratios are taken against. */
interface StormTarget {
  name: string
  file: string
  baseline?: string
}

const DIR = __dirname
const TARGETS: readonly StormTarget[] = [
  { name: 'raw-ws', file: path.join(DIR, 'raw-ws-server.ts') },
  { name: 'talk', file: path.join(DIR, 'talk-server.ts'), baseline: 'raw-ws' },
]
const LOAD = path.join(DIR, 'load.ts')

/** Sockets a process holds besides the storm's connections. */
const SPARE_FILES = 512
/** Clients of one load process connecting at once during the set-up. */
const CONNECT_CONCURRENCY = 64
const START_TIMEOUT_MS = 30_000
const SETUP_TIMEOUT_MS = 120_000
const PUBLISH_TIMEOUT_MS = 20_000
/** The storm ends this long after the drain started, every client back or not, ms. */
const STORM_DEADLINE_MS = 30_000

/** The storm's sizes from the environment (BENCH_STORM_*), for a full or a quick (BENCH_QUICK=1) run. */
export function stormSizes(quick: boolean, env: NodeJS.ProcessEnv = process.env): StormSizes {
  const number = (name: string, fallback: number): number => {
    const value = Number(env[name] ?? fallback)
    if (!(Number.isInteger(value) && value > 0)) throw new Error(`${name} must be a positive integer`)
    return value
  }
  return {
    clients: number('BENCH_STORM_CLIENTS', quick ? 500 : 10_000),
    loads: number('BENCH_STORM_LOADS', 2),
    rooms: number('BENCH_STORM_ROOMS', 100),
    jitterMs: number('BENCH_STORM_JITTER_MS', 1500),
    rounds: number('BENCH_STORM_ROUNDS', 1),
  }
}

/** What one storm against one server measured. */
interface StormRun {
  target: StormTarget
  clients: number
  /** Seconds from the drain's start until 99 % and 100 % of the clients were welcomed and back in their room (NaN: never). */
  back99: number
  back100: number
  backCount: number
  /** Seconds from the drain's start until the last client was closed (1012) by the draining server. */
  lastClose: number
  /** Seconds from the drain's start until the new server listened (its process start included). */
  listening: number
  /** The new server's CPU time from listening until the last client was back, µs per client. */
  cpuPerReconnect: number
  peakRssMb: number
  refused503: number
  refusedOther: number
  connRefused: number
  attemptsPerClient: number
  lostPushes: number
  unexpectedPushes: number
  requestsOk: number
  failures: number
  failureSamples: string[]
  /** Whole-machine CPU over the storm, share of one core. */
  machineCpu: number
  closes1012: number
}

/**
 * The reconnect storm: for each server, N clients connected and in rooms with one push per room
 * acknowledged, the server drained with 1012 over a jitter window while a fresh server process takes
 * the same port, and every client back by its own backoff. Prints progress; resolves with the table.
 */
export async function runStorm(builder: Builder, sizes: StormSizes, log: (line: string) => void = console.log): Promise<string> {
  const limit = fileLimit()
  const perLoad = Math.ceil(sizes.clients / sizes.loads)
  if (sizes.clients + SPARE_FILES > limit || perLoad + SPARE_FILES > limit) {
    sizes.clients = Math.max(100, limit - SPARE_FILES)
    log(`ulimit -n is ${limit}: the storm uses ${sizes.clients} clients`)
  }
  const load = builder.launch(LOAD, 'storm-load')
  const launches = new Map(TARGETS.map((t) => [t.name, builder.launch(t.file, `storm-${t.name}`)]))
  const runs: StormRun[] = []
  const failed: string[] = []
  for (let round = 1; round <= sizes.rounds; round++) {
    for (const target of TARGETS) {
      const began = performance.now()
      const label = `[STORM ${round}/${sizes.rounds}] ${target.name}`
      try {
        const run = await stormOnce(target, launches.get(target.name) as Launch, load, sizes)
        runs.push(run)
        log(`${label}: 99 % back ${run.back99.toFixed(2)} s, 100 % ${Number.isNaN(run.back100) ? `– (${run.backCount}/${run.clients})` : `${run.back100.toFixed(2)} s`}, ` +
          `${run.cpuPerReconnect.toFixed(0)} µs/reconnect, peak RSS ${run.peakRssMb.toFixed(0)} MB, lost pushes ${run.lostPushes}  [${((performance.now() - began) / 1000).toFixed(1)} s]`)
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error)
        failed.push(`- ${target.name} (round ${round}): no measurement: ${reason}`)
        log(`${label}: failed: ${reason}`)
      }
    }
  }
  return [table(runs, sizes), ...failed, ...runs.flatMap((r) => r.failureSamples.slice(0, 3).map((s) => `- ${r.target.name}: failed: ${s}`))].join('\n')
}

/** One storm against one server: set up, drain and restart, wait for everyone, measure, clean up. */
async function stormOnce(target: StormTarget, launch: Launch, loadLaunch: Launch, sizes: StormSizes): Promise<StormRun> {
  const children: ChildProcess[] = []
  try {
    const old = await startServer(launch, 0, children)
    const loads: ChildProcess[] = []
    const perLoad = Math.ceil(sizes.clients / sizes.loads)
    for (let first = 0; first < sizes.clients; first += perLoad) {
      const job: LoadJob = {
        port: old.port,
        first,
        count: Math.min(perLoad, sizes.clients - first),
        rooms: sizes.rooms,
        concurrency: CONNECT_CONCURRENCY,
        deadlineMs: STORM_DEADLINE_MS,
      }
      loads.push(spawn(loadLaunch, { BENCH_STORM_JOB: JSON.stringify(job) }, children))
    }
    // The loads' results are awaited from the start: a load that finishes early is not missed.
    const done = loads.map((child) => waitFor<StormDoneMessage>(child, 'storm-done', SETUP_TIMEOUT_MS + PUBLISH_TIMEOUT_MS + STORM_DEADLINE_MS + 15_000))
    done.forEach((p) => p.catch(() => undefined))
    await Promise.all(loads.map((child) => waitFor<StormConnectedMessage>(child, 'storm-connected', SETUP_TIMEOUT_MS)))
    const published = loads.map((child) => waitFor<StormPublishedMessage>(child, 'storm-published', PUBLISH_TIMEOUT_MS))
    for (const child of loads) child.send({ type: 'storm-publish' })
    await Promise.all(published)

    // The drain and the restart: the old server closes its listener, then its clients over the jitter
    // window; the new process starts at once and binds the port as soon as it is free.
    const drainedAt = performance.timeOrigin + performance.now()
    const busyBefore = machineBusyMicros()
    const oldExited = new Promise<void>((resolve) => old.child.once('exit', () => resolve()))
    old.child.send({ type: 'storm-drain', jitterMs: sizes.jitterMs })
    const fresh = await startServer(launch, old.port, children)
    const listening = (performance.timeOrigin + performance.now() - drainedAt) / 1000
    const results = (await Promise.all(done)).map((m) => m.result)
    const stormSeconds = (performance.timeOrigin + performance.now() - drainedAt) / 1000
    const busy = (machineBusyMicros() - busyBefore) / (stormSeconds * 1e6) * 100
    const probe = waitFor<StormProbeResultMessage>(fresh.child, 'storm-probe-result', 10_000)
    fresh.child.send({ type: 'storm-probe' })
    const end = await probe
    await Promise.race([oldExited, new Promise((resolve) => setTimeout(resolve, 10_000))])
    return { ...summarize(target, drainedAt, results, end.cpuMicros - fresh.cpuMicros, end.peakRss, busy), listening }
  } finally {
    await Promise.all(children.map((child) => stopProcess(child)))
  }
}

function summarize(
  target: StormTarget,
  drainedAt: number,
  results: LoadResult[],
  cpuMicros: number,
  peakRss: number,
  machineCpu: number,
): Omit<StormRun, 'listening'> {
  const back = results.flatMap((r) => r.backAt).map((t) => (t - drainedAt) / 1000).sort((a, b) => a - b)
  const clients = results.reduce((sum, r) => sum + r.clients, 0)
  const sum = (pick: (r: LoadResult) => number): number => results.reduce((total, r) => total + pick(r), 0)
  const count = (pick: (r: LoadResult) => Record<string, number>, keep: (key: string) => boolean): number =>
    results.reduce((total, r) => total + Object.entries(pick(r)).filter(([key]) => keep(key)).reduce((s, [, n]) => s + n, 0), 0)
  const at = (share: number): number => {
    const needed = Math.ceil(share * clients)
    return back.length >= needed ? (back[needed - 1] ?? Number.NaN) : Number.NaN
  }
  const closed = results.flatMap((r) => r.closedAt)
  return {
    target,
    clients,
    lastClose: closed.length === 0 ? Number.NaN : (Math.max(...closed) - drainedAt) / 1000,
    back99: at(0.99),
    back100: at(1),
    backCount: back.length,
    cpuPerReconnect: cpuMicros / clients,
    peakRssMb: peakRss / 2 ** 20,
    refused503: count((r) => r.refusals, (status) => status === '503'),
    refusedOther: count((r) => r.refusals, (status) => status !== '503'),
    connRefused: sum((r) => r.connRefused),
    attemptsPerClient: sum((r) => r.attempts) / clients,
    lostPushes: sum((r) => r.pushesExpected) - sum((r) => r.pushesReceived),
    unexpectedPushes: sum((r) => r.pushesUnexpected),
    requestsOk: sum((r) => r.requestsOk),
    failures: sum((r) => r.failures),
    failureSamples: results.flatMap((r) => r.failureSamples),
    machineCpu,
    closes1012: count((r) => r.closeCodes, (code) => code === '1012'),
  }
}

function table(runs: readonly StormRun[], sizes: StormSizes): string {
  const header = [
    'target', 'clients', 'last close s', 'new srv listening s', '99 % back s', '100 % back s', 'srv µs/reconnect', '× base', 'peak RSS MB', '× base',
    '1012 closes', '503s', 'conn refused', 'attempts/client', 'lost pushes', 'requests ok', 'failures', 'machine cpu %',
  ]
  const baseOf = (run: StormRun): StormRun | undefined => runs.find((r) => r.target.name === run.target.baseline)
  const ratio = (value: number, base: number | undefined): string => (base === undefined ? '1.00' : Number.isFinite(value / base) ? (value / base).toFixed(2) : '–')
  const rows = runs.map((run) => {
    const base = baseOf(run)
    return [
      run.target.name,
      run.clients.toLocaleString('en-US'),
      seconds(run.lastClose),
      seconds(run.listening),
      seconds(run.back99),
      Number.isNaN(run.back100) ? `– (${run.backCount} back)` : seconds(run.back100),
      run.cpuPerReconnect.toFixed(0),
      ratio(run.cpuPerReconnect, base?.cpuPerReconnect),
      run.peakRssMb.toFixed(0),
      ratio(run.peakRssMb, base?.peakRssMb),
      String(run.closes1012),
      String(run.refused503) + (run.refusedOther > 0 ? ` (+${run.refusedOther} other)` : ''),
      String(run.connRefused),
      run.attemptsPerClient.toFixed(2),
      String(run.lostPushes) + (run.unexpectedPushes > 0 ? ` (+${run.unexpectedPushes} unexpected ⚠)` : run.lostPushes > 0 ? ' ⚠' : ''),
      String(run.requestsOk),
      run.failures === 0 ? '0' : `${run.failures} ⚠`,
      run.machineCpu.toFixed(0),
    ]
  })
  const title = `### Reconnect storm: ${sizes.clients.toLocaleString('en-US')} clients in ${sizes.rooms} rooms over ${sizes.loads} load process(es), drained with 1012 over ${sizes.jitterMs} ms, restarted on the same port\n`
  return `${title}\n${markdown([header, ...rows])}`
}

function seconds(value: number): string {
  return Number.isFinite(value) ? value.toFixed(2) : '–'
}

/** A storm server listening: its process, port, and CPU time at the moment it started listening. */
interface StartedServer {
  child: ChildProcess
  port: number
  cpuMicros: number
}

/** Starts a storm server on `port` (0: any); resolves once it listens. The child goes into `children` for clean-up. */
async function startServer(launch: Launch, port: number, children: ChildProcess[]): Promise<StartedServer> {
  const child = spawn(launch, { BENCH_STORM_PORT: String(port) }, children)
  const ready = await waitFor<StormReadyMessage>(child, 'storm-ready', START_TIMEOUT_MS)
  return { child, port: ready.port, cpuMicros: ready.cpuMicros }
}

/** The last few KB each child wrote to stderr, for failure reports. */
const stderrTails = new WeakMap<ChildProcess, string>()

/** Forks `launch` with extra environment; the child goes into `children` for clean-up, its stderr tail is kept. */
function spawn(launch: Launch, env: Record<string, string>, children: ChildProcess[]): ChildProcess {
  const child = fork(launch.file, [], { execArgv: launch.execArgv, env: { ...launch.env, ...env }, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] })
  children.push(child)
  child.stderr?.on('data', (chunk: Buffer) => stderrTails.set(child, ((stderrTails.get(child) ?? '') + chunk.toString()).slice(-2000)))
  return child
}

/** The next IPC message of `type` from `child`; rejects when the child exits first or after `timeoutMs`. */
function waitFor<T extends { type: string }>(child: ChildProcess, type: T['type'], timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cleanUp = (): void => {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    const timer = setTimeout(() => {
      cleanUp()
      reject(new Error(`no ${type} within ${timeoutMs / 1000} s`))
    }, timeoutMs)
    const onMessage = (message: unknown): void => {
      if (!isStormMessage<T>(message, type)) return
      cleanUp()
      resolve(message)
    }
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      cleanUp()
      const said = (stderrTails.get(child) ?? '').trim().split('\n').slice(-3).join(' ')
      reject(new Error(`exited (${signal ?? `code ${String(code)}`}) before ${type}${said === '' ? '' : `: ${said}`}`))
    }
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}
