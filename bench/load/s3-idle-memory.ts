import type { ServerSample } from '../lib/ipc'
import type { Job } from '../lib/scenarios'
import type { Checks } from './checks'
import { probeServer, sleep } from './meter'
import { connectMany, connector } from './wire'

/** How long the server gets to finish handshake work before it is measured. */
const SETTLE_MS = 500
/** How long after a full GC the allocator gets to hand freed pages back before RSS is read. */
const RELEASE_MS = 300

/**
 * S3: memory per idle connection. Server RSS and heap after a full GC, before and after opening
 * N connections that have each received their welcome; the difference divided by N.
 */
export async function idleMemory(job: Job, checks: Checks): Promise<Record<string, number>> {
  const count = job.sizes.s3Connections
  const before = await settledSample()
  if (!before.gc) checks.fail('the server ran without --expose-gc: memory figures include garbage')
  const wires = await connectMany(connector(job, checks), count, 128)
  await sleep(SETTLE_MS)
  const after = await settledSample()
  // Keep the connections referenced (and open) until after the measurement.
  if (wires.length !== count) checks.fail(`opened ${wires.length} of ${count} connections`)
  return {
    'rss KB/conn': (after.rss - before.rss) / 1024 / count,
    'heap KB/conn': (after.heapUsed - before.heapUsed) / 1024 / count,
  }
}

/** A server sample after a full GC, taken again once freed pages had time to leave the RSS. */
async function settledSample(): Promise<ServerSample> {
  await probeServer(true)
  await sleep(RELEASE_MS)
  return probeServer(true)
}
