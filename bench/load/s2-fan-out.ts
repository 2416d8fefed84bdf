import type { Job } from '../lib/scenarios'
import { percentile } from '../lib/stats'
import { short, type Checks } from './checks'
import { openWindow, padFor, sleep } from './meter'
import { closeAll, connectMany, connector, type Frame, type Wire } from './wire'

const ROOM = 'bench-room'
const OTHER_ROOM = 'bench-other'
/** Clients in another room: any push they get is a misdelivery. */
const BYSTANDERS = 10
const DELIVERY_TIMEOUT_MS = 30_000

/**
 * S2: one publisher and N receivers in one room. Each publish is sent after the previous ack; every
 * receiver must get every message exactly once, in order; the publisher and bystanders get nothing.
 */
export async function fanOut(job: Job, checks: Checks): Promise<Record<string, number>> {
  const { sizes } = job
  const pad = padFor(sizes.payloadBytes)
  const connect = connector(job, checks)
  const receivers = await connectMany(connect, sizes.s2Receivers)
  const bystanders = await connectMany(connect, BYSTANDERS)
  const [publisher] = await connectMany(connect, 1)
  if (!publisher) throw new Error('no publisher connection')

  const total = sizes.s2Warmup + sizes.s2Messages
  const lastArrival = new Float64Array(total)
  let delivered = 0
  let allDelivered: (() => void) | undefined
  for (const receiver of receivers) {
    let expected = 0
    receiver.onPush((command: string, payload: Frame) => {
      const seq = payload['seq']
      if (command !== 'news' || 'status' in payload || payload['room'] !== ROOM || payload['pad'] !== pad) {
        return checks.fail(`receiver ${receiver.clientId} got a wrong push: ${short(payload)}`)
      }
      if (seq !== expected) return checks.fail(`receiver ${receiver.clientId} got seq ${String(seq)}, expected ${expected}`)
      expected++
      lastArrival[seq] = performance.now()
      if (++delivered === total * receivers.length) allDelivered?.()
    })
  }
  await Promise.all([...receivers, publisher].map((wire) => join(wire, ROOM, checks)))
  await Promise.all(bystanders.map((wire) => join(wire, OTHER_ROOM, checks)))

  const done = new Promise<void>((resolve, reject) => {
    allDelivered = resolve
    setTimeout(() => reject(new Error(`only ${delivered} of ${total * receivers.length} pushes arrived`)), DELIVERY_TIMEOUT_MS).unref()
  })
  done.catch(() => undefined) // awaited below; this only keeps an early timeout from being an unhandled rejection
  const sentAt = new Float64Array(total)
  await publish(publisher, 0, sizes.s2Warmup, sentAt, pad, checks)
  // Let the warm-up's pushes drain so the window holds the measured messages only.
  while (delivered < sizes.s2Warmup * receivers.length && performance.now() - sentAt[0]! < DELIVERY_TIMEOUT_MS) await sleep(5)
  const deliveredBefore = delivered
  const window = await openWindow()
  const first = performance.now()
  await publish(publisher, sizes.s2Warmup, total, sentAt, pad, checks)
  await done
  const figures = await window.stop()
  const measured = delivered - deliveredBefore
  const seconds = (lastArrival[total - 1]! - first) / 1000
  const latencies: number[] = []
  for (let seq = sizes.s2Warmup; seq < total; seq++) latencies.push(lastArrival[seq]! - sentAt[seq]!)
  await closeAll([...receivers, ...bystanders, publisher])
  return {
    'deliveries/s': measured / seconds,
    'p50 ms': percentile(latencies, 50),
    'p99 ms': percentile(latencies, 99),
    'srv µs/delivery': figures.serverMicros / measured,
    'srv cpu %': figures.serverPercent,
    'lg cpu %': figures.loadPercent,
    'other cpu %': figures.otherPercent,
  }
}

async function join(wire: Wire, room: string, checks: Checks): Promise<void> {
  try {
    await wire.request('join', { room })
  } catch (error) {
    checks.fail(`join: ${String(error)}`)
  }
}

async function publish(publisher: Wire, from: number, to: number, sentAt: Float64Array, pad: string, checks: Checks): Promise<void> {
  for (let seq = from; seq < to; seq++) {
    sentAt[seq] = performance.now()
    try {
      await publisher.request('publish', { room: ROOM, seq, pad })
    } catch (error) {
      checks.fail(`publish ${seq}: ${String(error)}`)
    }
  }
}
