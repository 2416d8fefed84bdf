// `npm run bench`: every scenario, rounds of A B C … with each target in its own fresh process,
// driven by a separate load-generator process; prints median tables with ratios against the baselines.
import * as os from 'node:os'
import { readConfig } from './lib/config'
import { ensureFileLimit } from './lib/file-limit'
import { runLoad, startTarget, stopProcess } from './lib/processes'
import { Results, format } from './lib/report'
import type { Job, Scenario } from './lib/scenarios'
import { BENCH_TOKEN, type Target } from './lib/targets'

/** Sockets a process holds besides the benchmark's own connections. */
const SPARE_FILES = 512

async function main(): Promise<void> {
  const config = readConfig()
  const { sizes } = config
  if (config.scenarios.some((s) => s.id === 'S3')) {
    const limit = ensureFileLimit(sizes.s3Connections + SPARE_FILES, __filename)
    if (limit < sizes.s3Connections + SPARE_FILES) {
      sizes.s3Connections = Math.max(100, limit - SPARE_FILES)
      console.log(`ulimit -n is ${limit} and cannot be raised: S3 uses ${sizes.s3Connections} connections`)
    }
  }
  const started = performance.now()
  console.log(machine(config.quick, sizes.rounds))
  if (config.addedBaselines.length > 0) console.log(`added for ratios: ${config.addedBaselines.join(', ')}`)

  const results = new Results()
  const skipped = new Map<string, string>()
  const timeoutMs = config.quick ? 60_000 : 180_000
  for (const scenario of config.scenarios) {
    for (let round = 1; round <= sizes.rounds; round++) {
      for (const target of config.targets) {
        if (skipped.has(target.name)) continue
        const label = `[${scenario.id} ${round}/${sizes.rounds}] ${target.name}`
        let server
        try {
          server = await startTarget(target)
        } catch (error) {
          const reason = message(error)
          skipped.set(target.name, reason)
          console.log(`${label}: skipped, it did not start: ${reason}`)
          continue
        }
        try {
          const job: Job = { scenario: scenario.id, target: target.name, dialect: target.dialect, port: server.port, sizes, token: BENCH_TOKEN }
          const measurement = await runLoad(job, server, timeoutMs)
          results.add(scenario, target, measurement)
          console.log(`${label}: ${summary(scenario, measurement.metrics)}${measurement.errors > 0 ? `  ⚠ ${measurement.errors} failed checks` : ''}`)
        } catch (error) {
          results.fail(scenario, target, message(error))
          console.log(`${label}: failed: ${message(error)}`)
        } finally {
          await stopProcess(server.child)
        }
      }
    }
  }

  console.log(`\n## Results (medians of ${sizes.rounds} round${sizes.rounds === 1 ? '' : 's'})\n`)
  console.log(machine(config.quick, sizes.rounds) + '\n')
  for (const scenario of config.scenarios) {
    console.log(`### ${scenario.title}\n`)
    console.log(results.table(scenario, config.targets.filter((t) => !skippedBefore(t, skipped, results, scenario))) + '\n')
  }
  for (const [name, reason] of skipped) console.log(`- ${name} skipped: ${reason}`)
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`)
}

/** A target that never started has no row. */
function skippedBefore(target: Target, skipped: Map<string, string>, results: Results, scenario: Scenario): boolean {
  return skipped.has(target.name) && Number.isNaN(results.median(scenario, target.name, scenario.metrics[0]?.key ?? ''))
}

function machine(quick: boolean, rounds: number): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  return `node ${process.version}, ${os.cpus().length} cores (${cpu}), ${os.platform()} ${os.release()}; ${quick ? 'BENCH_QUICK smoke run' : 'full run'}, ${rounds} round(s)`
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
