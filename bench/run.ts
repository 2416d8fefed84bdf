// `npm run bench`: every scenario, rounds of A B C … with each target in its own fresh process,
// driven by a separate load-generator process; prints median tables with ratios against the baselines.
import * as os from 'node:os'
import * as path from 'node:path'
import { Builder, type Launch } from './lib/build'
import { readConfig, type Config } from './lib/config'
import { fileLimit } from './lib/file-limit'
import type { Measurement } from './lib/ipc'
import { takeBenchLock } from './lib/lock'
import { waitForQuiet } from './lib/machine'
import { runLoad, startTarget, stopProcess } from './lib/processes'
import { Results, format, isDisturbed } from './lib/report'
import type { Scenario } from './lib/scenarios'
import { BENCH_TOKEN, type Target } from './lib/targets'
import { runStorm, stormSizes } from './storm/run-storm'

const LOAD_MAIN = path.join(__dirname, 'load', 'main.ts')

/** Sockets a process holds besides the benchmark's own connections. */
const SPARE_FILES = 512
/** Longest wait for a quiet machine before one run, and over the whole run, ms. */
const QUIET_WAIT_MS = 2000
const QUIET_WAIT_TOTAL_MS = 60_000
let quietWaited = 0

/** Longest wait for another bench run on this machine to finish, ms. */
const LOCK_WAIT_MS = 15 * 60_000

/** A target that fails to start this many times in a row is left out for the rest of the run. */
const START_ATTEMPTS = 2

async function main(): Promise<void> {
  const config = readConfig()
  const { sizes } = config
  if (config.scenarios.some((s) => s.id === 'S3')) {
    const limit = fileLimit()
    if (limit < sizes.s3Connections + SPARE_FILES) {
      sizes.s3Connections = Math.max(100, limit - SPARE_FILES)
      console.log(`ulimit -n is ${limit} (the hard limit; raise it as root for more): S3 uses ${sizes.s3Connections} connections`)
    }
  }
  const release = await takeBenchLock(LOCK_WAIT_MS)
  if (release === undefined) console.log('another bench run is still going: these figures are disturbed by it')
  const started = performance.now()
  const budgetMs = config.budgetSeconds * 1000
  const elapsed = (): number => performance.now() - started
  console.log(machine(config))
  if (config.addedBaselines.length > 0) console.log(`added for ratios: ${config.addedBaselines.join(', ')}`)

  const builder = new Builder()
  process.on('exit', () => {
    builder.dispose()
    release?.()
  })
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    // Exiting runs the exit hook; the children see their IPC channel close and exit too.
    process.once(signal, () => process.exit(130))
  }
  const generator = builder.launch(LOAD_MAIN, 'load')
  const results = new Results()
  const startFailures = new Map<string, number>()
  const dropped = new Map<string, string>()
  const launches = new Map<string, Launch>()
  // With only the storm picked (BENCH_SCENARIOS=STORM) the scenario targets are not built.
  for (const target of config.scenarios.length === 0 ? [] : config.targets) {
    try {
      launches.set(target.name, builder.launch(target.file, target.name, target.lib))
    } catch (error) {
      dropped.set(target.name, `it does not compile: ${message(error).split('\n').slice(0, 2).join(' ')}`)
      console.log(`${target.name}: left out: ${dropped.get(target.name) ?? ''}`)
    }
  }
  let outOfTime = 0
  for (const scenario of config.scenarios) {
    for (let round = 1; round <= sizes.rounds; round++) {
      for (const target of config.targets) {
        const launch = launches.get(target.name)
        if (launch === undefined || dropped.has(target.name)) continue
        if (elapsed() > budgetMs) {
          outOfTime++
          continue
        }
        const label = `[${scenario.id} ${round}/${sizes.rounds}] ${target.name}`
        // One more try for a disturbed run, while there is time for it.
        for (let attempt = 1; attempt <= 2; attempt++) {
          const outcome = await runOnce(config, scenario, target, launch, generator)
          if (outcome.kind === 'no-start') {
            const failures = (startFailures.get(target.name) ?? 0) + 1
            startFailures.set(target.name, failures)
            if (failures >= START_ATTEMPTS) dropped.set(target.name, `it did not start: ${outcome.reason}`)
            console.log(`${label}: did not start${failures >= START_ATTEMPTS ? ', left out from now on' : ''}: ${outcome.reason}`)
            break
          }
          startFailures.delete(target.name)
          if (outcome.kind === 'failed') {
            results.fail(scenario, target, outcome.reason)
            console.log(`${label}: failed: ${outcome.reason}`)
            break
          }
          const retry = !config.quick && isDisturbed(outcome.measurement) && attempt === 1 && elapsed() < budgetMs * 0.6
          const errors = outcome.measurement.errors > 0 ? `  ⚠ ${outcome.measurement.errors} failed checks` : ''
          const note = isDisturbed(outcome.measurement) ? (retry ? '  (disturbed: again)' : '  (disturbed)') : ''
          console.log(`${label}: ${summary(scenario, outcome.measurement.metrics)}${errors}${note}  [${outcome.seconds.toFixed(1)} s]`)
          if (retry) continue
          results.add(scenario, target, outcome.measurement)
          break
        }
      }
    }
  }

  // The reconnect storm (bench/storm/) after the scenarios, while the budget lasts.
  let storm: string | undefined
  if (config.storm && elapsed() <= budgetMs) {
    try {
      storm = await runStorm(builder, stormSizes(config.quick))
    } catch (error) {
      storm = `- the reconnect storm did not run: ${message(error)}`
    }
  } else if (config.storm) {
    storm = `- the reconnect storm did not run: the ${config.budgetSeconds} s budget (BENCH_BUDGET_S) ran out`
  }

  console.log(`\n## Results (medians of ${sizes.rounds} round${sizes.rounds === 1 ? '' : 's'})\n`)
  console.log(machine(config) + '\n')
  for (const scenario of config.scenarios) {
    console.log(`### ${scenario.title}\n`)
    console.log(results.table(scenario, config.targets, sizes.rounds) + '\n')
  }
  if (storm !== undefined) console.log(storm + '\n')
  for (const [name, reason] of dropped) console.log(`- ${name} left out: ${reason}`)
  if (outOfTime > 0) console.log(`- ${outOfTime} runs not started: the ${config.budgetSeconds} s budget (BENCH_BUDGET_S) ran out`)
  console.log(`\ntotal ${(elapsed() / 1000).toFixed(0)} s`)
}

type Outcome =
  | { kind: 'measured'; measurement: Measurement; seconds: number }
  | { kind: 'failed'; reason: string }
  | { kind: 'no-start'; reason: string }

/** One scenario against one freshly started target, on a machine given a moment to go quiet first. */
async function runOnce(config: Config, scenario: Scenario, target: Target, launch: Launch, generator: Launch): Promise<Outcome> {
  const waitStart = performance.now()
  await waitForQuiet(config.quick ? 0 : Math.min(QUIET_WAIT_MS, QUIET_WAIT_TOTAL_MS - quietWaited))
  quietWaited += performance.now() - waitStart
  const began = performance.now()
  let server
  try {
    server = await startTarget(launch, `${scenario.id}/${target.name}`)
  } catch (error) {
    return { kind: 'no-start', reason: message(error) }
  }
  try {
    const job = { scenario: scenario.id, target: target.name, dialect: target.dialect, port: server.port, sizes: config.sizes, token: BENCH_TOKEN }
    const measurement = await runLoad(generator, job, server, config.quick ? 60_000 : 120_000)
    return { kind: 'measured', measurement, seconds: (performance.now() - began) / 1000 }
  } catch (error) {
    return { kind: 'failed', reason: message(error) }
  } finally {
    await stopProcess(server.child)
  }
}

function machine(config: Config): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  const mode = config.quick ? 'BENCH_QUICK smoke run' : 'full run'
  return `node ${process.version}, ${os.cpus().length} cores (${cpu}), ${os.platform()} ${os.release()}; ${mode}, ${config.sizes.rounds} round(s)`
}

function summary(scenario: Scenario, metrics: Record<string, number>): string {
  return scenario.metrics.map((metric) => `${metric.key} ${format(metrics[metric.key] ?? Number.NaN, metric)}`).join(', ')
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
