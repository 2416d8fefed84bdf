// The load generator: a child of bench/run.ts that runs one scenario against one target and reports back.
import type { FailedMessage, Measurement, ResultMessage } from '../lib/ipc'
import type { Job } from '../lib/scenarios'
import { Checks } from './checks'
import { requestReply } from './s1-request-reply'
import { fanOut } from './s2-fan-out'
import { idleMemory } from './s3-idle-memory'
import { churn } from './s4-churn'

function run(job: Job, checks: Checks): Promise<Record<string, number>> {
  switch (job.scenario) {
    case 'S1a':
      return requestReply(job, job.sizes.s1InFlight, checks)
    case 'S1b':
      return requestReply(job, 1, checks)
    case 'S2':
      return fanOut(job, checks)
    case 'S3':
      return idleMemory(job, checks)
    case 'S4':
      return churn(job, checks)
  }
}

function report(message: ResultMessage | FailedMessage): void {
  // Exit only once the message is out; sockets still open are simply dropped.
  process.send?.(message, () => process.exit(0))
}

const raw = process.env['BENCH_JOB']
if (raw === undefined || process.send === undefined) {
  console.error('bench/load/main.ts is started by bench/run.ts')
  process.exit(2)
}
// The runner went away (interrupted): stop at once rather than finish a run nobody reads.
process.on('disconnect', () => process.exit(1))
const job = JSON.parse(raw) as Job
const checks = new Checks()
run(job, checks).then(
  (metrics) => {
    const result: Measurement = { metrics, errors: checks.failures, errorSamples: checks.samples }
    report({ type: 'result', result })
  },
  (error: unknown) => report({ type: 'failed', error: error instanceof Error ? error.message : String(error) }),
)
