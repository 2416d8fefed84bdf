import * as path from 'node:path'
import type { Dialect } from './scenarios'

/** A server under test: one file in bench/targets/, started as its own process. */
export interface Target {
  name: string
  file: string
  dialect: Dialect
  /** The hand-written target its ratios are taken against (none for a baseline itself). */
  baseline?: string
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

/** The bearer token the load generator sends and the chain targets accept. */
export const BENCH_TOKEN = 'bench-token-1'

/**
 * The Talk targets keep the default per-connection rate limiter on the message path (its cost is part
 * of Talk's) but sized so the benchmark's load, far past a person's, never reaches it.
 */
export const UNLIMITED = { capacity: 1e12, refillPerSecond: 1e12 } as const
