import * as path from 'node:path'
import type { Dialect } from './scenarios'

/** A server under test: one file in bench/targets/, started as its own process. */
export interface Target {
  name: string
  file: string
  dialect: Dialect
  /** The hand-written target its ratios are taken against (none for a baseline itself). */
  baseline?: string
  /** Another checkout's `lib/` to build the target against instead of this one's (BENCH_BASE). */
  lib?: string
}

const dir = path.join(__dirname, '..', 'targets')

/** Every target, in the order each round runs them. */
export const TARGETS: readonly Target[] = [
  { name: 'raw-ws', file: path.join(dir, 'raw-ws.ts'), dialect: 'talk' },
  { name: 'raw-ws-chain', file: path.join(dir, 'raw-ws-chain.ts'), dialect: 'talk', baseline: 'raw-ws' },
  { name: 'socketio', file: path.join(dir, 'socketio.ts'), dialect: 'socketio', baseline: 'raw-ws' },
  { name: 'talk', file: path.join(dir, 'talk.ts'), dialect: 'talk', baseline: 'raw-ws' },
  { name: 'talk-chain', file: path.join(dir, 'talk-chain.ts'), dialect: 'talk', baseline: 'raw-ws-chain' },
]

/**
 * Every target, plus with BENCH_BASE=<another checkout of Talk> the Talk targets built against that
 * checkout's `lib/` (`talk-base`, `talk-chain-base`): the before and after of a change in one run.
 */
export function targetsFor(env: NodeJS.ProcessEnv = process.env): readonly Target[] {
  const base = env['BENCH_BASE']
  if (base === undefined || base === '') return TARGETS
  const lib = path.resolve(base, 'lib')
  const talkTargets = TARGETS.filter((t) => t.name.startsWith('talk'))
  return [...TARGETS, ...talkTargets.map((t) => ({ ...t, name: `${t.name}-base`, lib }))]
}

/** The bearer token the load generator sends and the chain targets accept. */
export const BENCH_TOKEN = 'bench-token-1'

/**
 * The Talk targets keep the default per-connection rate limiter on the message path (its cost is part
 * of Talk's) but sized so the benchmark's load, far past a person's, never reaches it.
 */
export const UNLIMITED = { capacity: 1e12, refillPerSecond: 1e12 } as const
