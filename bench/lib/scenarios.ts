/** The benchmark scenarios, their sizes and the figures each reports. */

/** One figure a scenario reports. */
export interface MetricSpec {
  key: string
  /** Which way is better; decides nothing, shown for readers. */
  better: 'higher' | 'lower'
  /** Print a ratio against the target's baseline in the same run. */
  ratio: boolean
  /** Decimal places in the table. */
  digits: number
  /** A run whose median magnitude passes this bound is marked ✗ (e.g. heap not back at baseline). */
  limit?: number
}

/** A scenario: what it drives and what it reports. */
export interface Scenario {
  id: ScenarioId
  title: string
  metrics: readonly MetricSpec[]
}

/** S1a/S1b: request/reply (16 or 1 in flight); S2: fan-out; S3: idle memory; S4: churn. */
export type ScenarioId = 'S1a' | 'S1b' | 'S2' | 'S3' | 'S4'

/** How big each scenario is; full and quick runs differ only here. */
export interface Sizes {
  /** Rounds of A B C …; each round starts every target afresh per scenario. */
  rounds: number
  warmupMs: number
  windowMs: number
  s1Connections: number
  s1InFlight: number
  s2Receivers: number
  s2Warmup: number
  s2Messages: number
  s3Connections: number
  s4Concurrency: number
  /** Approximate request frame size, bytes. */
  payloadBytes: number
}

/** Sizes of `npm run bench`. */
export const FULL: Sizes = {
  rounds: 5,
  warmupMs: 500,
  windowMs: 2000,
  s1Connections: 64,
  s1InFlight: 16,
  s2Receivers: 1000,
  s2Warmup: 10,
  s2Messages: 200,
  s3Connections: 5000,
  s4Concurrency: 8,
  payloadBytes: 100,
}

/** Sizes of `BENCH_QUICK=1`: a smoke run of seconds, not figures to quote. */
export const QUICK: Sizes = {
  ...FULL,
  rounds: 1,
  warmupMs: 200,
  windowMs: 500,
  s1Connections: 16,
  s2Receivers: 100,
  s2Warmup: 5,
  s2Messages: 30,
  s3Connections: 500,
}

const rate = (key: string): MetricSpec => ({ key, better: 'higher', ratio: true, digits: 0 })
const cost = (key: string): MetricSpec => ({ key, better: 'lower', ratio: true, digits: 1 })
const latency = (key: string): MetricSpec => ({ key, better: 'lower', ratio: false, digits: 2 })
const share = (key: string): MetricSpec => ({ key, better: 'lower', ratio: false, digits: 0 })

/** Every scenario, in the order a run measures them. */
export const SCENARIOS: readonly Scenario[] = [
  {
    id: 'S1a',
    title: 'S1 request/reply, 16 in flight per connection',
    metrics: [rate('req/s'), latency('p50 ms'), latency('p99 ms'), cost('srv µs/req'), share('srv cpu %'), share('lg cpu %'), share('other cpu %')],
  },
  {
    id: 'S1b',
    title: 'S1 request/reply, 1 in flight per connection',
    metrics: [rate('req/s'), latency('p50 ms'), latency('p99 ms'), cost('srv µs/req'), share('srv cpu %'), share('lg cpu %'), share('other cpu %')],
  },
  {
    id: 'S2',
    title: 'S2 fan-out, one publisher to one room',
    metrics: [
      rate('deliveries/s'),
      latency('p50 ms'),
      latency('p99 ms'),
      cost('srv µs/delivery'),
      share('srv cpu %'),
      share('lg cpu %'),
      share('other cpu %'),
    ],
  },
  {
    id: 'S3',
    title: 'S3 memory per idle connection (after full GC)',
    metrics: [cost('rss KB/conn'), cost('heap KB/conn')],
  },
  {
    id: 'S4',
    title: 'S4 churn: connect, welcome, one request, close',
    metrics: [
      rate('cycles/s'),
      cost('srv µs/cycle'),
      { key: 'heap Δ MB', better: 'lower', ratio: false, digits: 2, limit: 2 },
      share('srv cpu %'),
      share('lg cpu %'),
      share('other cpu %'),
    ],
  },
]

/** A window in which other work used more than this share of one core (%) is marked disturbed. */
export const DISTURBED_PERCENT = 25

/** The scenario with this id; throws on an unknown id (a bug in the caller). */
export function scenario(id: ScenarioId): Scenario {
  const found = SCENARIOS.find((s) => s.id === id)
  if (!found) throw new Error(`unknown scenario ${id}`)
  return found
}

/** What the runner hands the load generator (as JSON in BENCH_JOB). */
export interface Job {
  scenario: ScenarioId
  target: string
  dialect: Dialect
  port: number
  sizes: Sizes
  /** The bearer token every connection sends; `*-chain` targets check it. */
  token: string
}

/** How a target speaks: Talk protocol v1 over plain WebSocket, or Socket.IO 4. */
export type Dialect = 'talk' | 'socketio'
