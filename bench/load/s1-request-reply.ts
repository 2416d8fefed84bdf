import { isRecord } from '../lib/control'
import type { Job } from '../lib/scenarios'
import { percentile } from '../lib/stats'
import { short, type Checks } from './checks'
import { openWindow, padFor, sleep } from './meter'
import { closeAll, connectMany, connector, type Wire } from './wire'

/**
 * S1: closed-loop request/reply. Every connection keeps `inFlight` echo requests outstanding;
 * a reply counts only when it is a success for the right ref carrying exactly the body sent.
 */
export async function requestReply(job: Job, inFlight: number, checks: Checks): Promise<Record<string, number>> {
  const { sizes } = job
  const pad = padFor(sizes.payloadBytes)
  const wires = await connectMany(connector(job, checks), sizes.s1Connections)
  const latencies: number[] = []
  let counting = false
  let stopping = false
  let counted = 0
  let nextN = 0

  // One chain of requests per slot, each sent from the previous one's reply: callbacks, not promises,
  // so the load generator spends as little as it can per reply.
  let running = 0
  let allStopped: (() => void) | undefined
  const stopped = (): void => {
    if (--running === 0) allStopped?.()
  }
  function loop(wire: Wire): void {
    running++
    const next = (): void => {
      if (stopping) return stopped()
      const n = nextN++
      const sent = performance.now()
      wire.call('echo', { n, pad }, (error, reply) => {
        if (error !== undefined) {
          checks.fail(String(error))
          // A broken connection would spin; stop this chain.
          return error.message.startsWith('closed') ? stopped() : next()
        }
        const echo = reply?.['echo']
        if (!isRecord(echo) || echo['n'] !== n || echo['pad'] !== pad || Object.keys(echo).length !== 2) {
          checks.fail(`echo of n=${n} came back as ${short(reply)}`)
        } else if (counting) {
          counted++
          latencies.push(performance.now() - sent)
        }
        next()
      })
    }
    next()
  }

  for (const wire of wires) for (let slot = 0; slot < inFlight; slot++) loop(wire)
  const allDone = new Promise<void>((resolve) => (allStopped = resolve))
  await sleep(sizes.warmupMs)
  const window = await openWindow()
  counting = true
  await sleep(sizes.windowMs)
  counting = false
  const figures = await window.stop()
  stopping = true
  await allDone
  await closeAll(wires)
  return {
    'req/s': counted / figures.seconds,
    'p50 ms': percentile(latencies, 50),
    'p99 ms': percentile(latencies, 99),
    'srv µs/req': figures.serverMicros / counted,
    'srv cpu %': figures.serverPercent,
    'lg cpu %': figures.loadPercent,
    'other cpu %': figures.otherPercent,
  }
}
