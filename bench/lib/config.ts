import { FULL, QUICK, SCENARIOS, type Scenario, type Sizes } from './scenarios'
import { targetsFor, type Target } from './targets'

/** What one `npm run bench` does, from the environment. */
export interface Config {
  quick: boolean
  sizes: Sizes
  targets: Target[]
  scenarios: Scenario[]
  /** Baselines added because a selected target is compared against them. */
  addedBaselines: string[]
  /** No new run starts after this many seconds (BENCH_BUDGET_S; default 540, quick 240). */
  budgetSeconds: number
  /** Run the reconnect storm after the scenarios (BENCH_SCENARIOS picks it as STORM; BENCH_TARGETS must name talk or raw-ws, or nothing). */
  storm: boolean
}

/** The reconnect storm's id in BENCH_SCENARIOS (bench/storm/). */
export const STORM_ID = 'STORM'

/**
 * Reads BENCH_QUICK=1 (smoke run), BENCH_TARGETS=raw-ws,talk, BENCH_SCENARIOS=S1,S3 (a prefix picks
 * every variant: S1 is S1a and S1b) and BENCH_ROUNDS=n. Throws on a name it does not know.
 */
export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const quick = env['BENCH_QUICK'] === '1'
  const rounds = env['BENCH_ROUNDS'] === undefined ? undefined : Number(env['BENCH_ROUNDS'])
  if (rounds !== undefined && !(Number.isInteger(rounds) && rounds > 0)) throw new Error('BENCH_ROUNDS must be a positive integer')
  const sizes: Sizes = { ...(quick ? QUICK : FULL), ...(rounds === undefined ? {} : { rounds }) }
  const budgetSeconds = Number(env['BENCH_BUDGET_S'] ?? (quick ? 240 : 540))
  if (!(budgetSeconds > 0)) throw new Error('BENCH_BUDGET_S must be a positive number of seconds')

  const TARGETS = targetsFor(env)
  const wanted = list(env['BENCH_TARGETS'])
  for (const name of wanted ?? []) {
    if (!TARGETS.some((t) => t.name === name)) throw new Error(`BENCH_TARGETS: unknown target ${name} (have ${names(TARGETS)})`)
  }
  const chosen = new Set(wanted ?? TARGETS.map((t) => t.name))
  const addedBaselines: string[] = []
  for (const target of TARGETS) {
    if (chosen.has(target.name) && target.baseline !== undefined && !chosen.has(target.baseline)) {
      chosen.add(target.baseline)
      addedBaselines.push(target.baseline)
    }
  }

  const prefixes = list(env['BENCH_SCENARIOS'])
  for (const prefix of prefixes ?? []) {
    if (!SCENARIOS.some((s) => s.id.startsWith(prefix)) && !STORM_ID.startsWith(prefix)) {
      throw new Error(`BENCH_SCENARIOS: unknown scenario ${prefix} (have ${names(SCENARIOS)}, ${STORM_ID})`)
    }
  }
  return {
    quick,
    sizes,
    targets: TARGETS.filter((t) => chosen.has(t.name)),
    scenarios: SCENARIOS.filter((s) => prefixes === undefined || prefixes.some((p) => s.id.startsWith(p))),
    addedBaselines,
    budgetSeconds,
    storm: (prefixes === undefined || prefixes.some((p) => STORM_ID.startsWith(p))) && (wanted === undefined || wanted.includes('talk') || wanted.includes('raw-ws')),
  }
}

function list(value: string | undefined): string[] | undefined {
  const items = value?.split(',').map((item) => item.trim()).filter((item) => item !== '')
  return items === undefined || items.length === 0 ? undefined : items
}

function names(items: readonly ({ name: string } | { id: string })[]): string {
  return items.map((item) => ('name' in item ? item.name : item.id)).join(', ')
}
