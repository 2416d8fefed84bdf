import { isRecord } from '../lib/control'
import type { Job } from '../lib/scenarios'
import { short, type Checks } from './checks'
import { openWindow, padFor, probeServer, sleep } from './meter'
import { connector, type Connect } from './wire'

const MB = 1024 * 1024
/** The heap must come back within this of its baseline once every connection has closed. */
const HEAP_TOLERANCE = 2 * MB
/** How long the server gets to finish closing connections before the heap counts as leaked. */
const SETTLE_LIMIT_MS = 3000

/**
 * S4: churn. Concurrent loops of connect → welcome → one echo → close. Reports cycles/s, server
 * CPU per cycle, and the server heap after a full GC against its baseline taken before the window.
 */
export async function churn(job: Job, checks: Checks): Promise<Record<string, number>> {
  const { sizes } = job
  const connect = connector(job, checks)
  const pad = padFor(sizes.payloadBytes)
  // Warm-up, so that one-time allocations (compiled code, caches) are in the baseline.
  await cycles(connect, sizes.s4Concurrency, sizes.warmupMs, pad, checks)
  // The last closes may still be in flight on the server side (Socket.IO closes without waiting).
  await sleep(200)
  const baseline = await settledHeap(undefined)
  const window = await openWindow()
  const done = await cycles(connect, sizes.s4Concurrency, sizes.windowMs, pad, checks)
  const figures = await window.stop()
  const after = await settledHeap(baseline)
  return {
    'cycles/s': done / figures.seconds,
    'srv µs/cycle': figures.serverMicros / done,
    'heap Δ MB': (after - baseline) / MB,
    'srv cpu %': figures.serverPercent,
    'lg cpu %': figures.loadPercent,
    'other cpu %': figures.otherPercent,
  }
}

/** Runs `concurrency` churn loops for `ms`; resolves with the number of correct cycles once all have closed. */
async function cycles(connect: Connect, concurrency: number, ms: number, pad: string, checks: Checks): Promise<number> {
  const until = performance.now() + ms
  let done = 0
  async function loop(): Promise<void> {
    let n = 0
    while (performance.now() < until) {
      try {
        const wire = await connect()
        const reply = await wire.request('echo', { n, pad })
        const echo = reply['echo']
        if (isRecord(echo) && echo['n'] === n && echo['pad'] === pad) done++
        else checks.fail(`echo of n=${n} came back as ${short(reply)}`)
        await wire.close()
      } catch (error) {
        checks.fail(String(error))
      }
      n++
    }
  }
  await Promise.all(Array.from({ length: concurrency }, loop))
  return done
}

/** The server's heap after a full GC; with a baseline, polls until it is back within tolerance or time runs out. */
async function settledHeap(baseline: number | undefined): Promise<number> {
  const started = performance.now()
  for (;;) {
    const { heapUsed } = await probeServer(true)
    if (baseline === undefined || heapUsed - baseline <= HEAP_TOLERANCE || performance.now() - started > SETTLE_LIMIT_MS) {
      return heapUsed
    }
    await sleep(100)
  }
}
