/**
 * Cross-node broadcast: one room push reaching R clients, on one node (in-memory adapter) and on two
 * or three nodes sharing a Redis (redisAdapter), each node its own process. Prints deliveries per
 * second (pushes sent back to back, a window of requests in flight) and the latency from send to
 * the last client's receipt (one push at a time), p50 and p99. The Redis setups run with one shared
 * channel, with a channel per room (`roomChannels`), or both (ROOM_CHANNELS=off|on|both, default
 * both); the three-node setup has a third node with no member in the room, which only the shared
 * channel makes read every push.
 *
 *   npx ts-node --transpile-only bench/cluster-broadcast.ts            # own redis-server, or REDIS_URL
 *   RECEIVERS=1000 MESSAGES=1000 npx ts-node --transpile-only bench/cluster-broadcast.ts
 *   ROOM_CHANNELS=on npx ts-node --transpile-only bench/cluster-broadcast.ts
 */
import { fork, type ChildProcess } from 'node:child_process'
import * as os from 'node:os'
import pino from 'pino'
import WebSocket from 'ws'
import { memoryAdapter, talk } from '../index'
import { redisAdapter } from '../lib/adapters/redis'
import { redisSource, RedisServer } from '../test/helpers/redis-server'
import { takeBenchLock } from './lib/lock'
import { waitForQuiet } from './lib/machine'
import { percentile } from './lib/stats'

const RECEIVERS = Number(process.env.RECEIVERS ?? 500)
const MESSAGES = Number(process.env.MESSAGES ?? 400)
const PINGS = Number(process.env.PINGS ?? 200)
const WINDOW = Number(process.env.WINDOW ?? 16)
const ROUNDS = Number(process.env.ROUNDS ?? 3)
const ROOM_CHANNELS = process.env.ROOM_CHANNELS ?? 'both'
if (!['off', 'on', 'both'].includes(ROOM_CHANNELS)) throw new Error('ROOM_CHANNELS must be off, on or both')

// ---- a node: run as a child with `--node` ---------------------------------------------------

async function runNode(): Promise<void> {
  const url = process.env.REDIS_URL
  const app = talk({
    logger: pino({ level: 'silent' }),
    heartbeatInterval: 0,
    adapter: url === undefined || url === ''
      ? memoryAdapter()
      : redisAdapter({ url, prefix: `bench-${process.ppid}:`, roomChannels: process.env.BENCH_ROOM_CHANNELS === '1' }),
  })
  app.route('room/join', (ctx) => ctx.join('all'))
  app.route('room/say', (ctx) => ctx.to('all').send('room:said', { text: 'x'.repeat(64), n: ctx.body.n }))
  const { port } = await app.listen(0, '127.0.0.1')
  process.send?.({ port })
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)))
}

// ---- the driver -----------------------------------------------------------------------------

function startNode(redisUrl: string | undefined, roomChannels: boolean): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(__filename, ['--node'], {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    env: { ...process.env, REDIS_URL: redisUrl ?? '', BENCH_ROOM_CHANNELS: roomChannels ? '1' : '0' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`node exited (${String(code)})`)))
    child.once('message', (m: { port: number }) => resolve({ child, url: `ws://127.0.0.1:${m.port}` }))
  })
}

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    // The welcome is the first frame: the socket is ready once it came.
    ws.once('message', () => resolve(ws))
    ws.once('error', reject)
  })
}

/** Sends a request and resolves with its reply (by order: this client sends nothing else meanwhile). */
function request(ws: WebSocket, frame: object): Promise<void> {
  return new Promise((resolve) => {
    ws.once('message', () => resolve())
    ws.send(JSON.stringify(frame))
  })
}

interface Setup {
  name: string
  nodes: number
  redis: boolean
  /** Receivers on every node that takes clients (else on all but the sender's). */
  split: boolean
  /** Nodes that take no client at all. */
  idle: number
  roomChannels: boolean
}

interface Result {
  deliveriesPerSecond: number
  p50: number
  p99: number
}

async function measure(urls: string[], senderUrl: string): Promise<Result> {
  const receivers: WebSocket[] = []
  for (let i = 0; i < RECEIVERS; i++) {
    const ws = await open(urls[i % urls.length] as string)
    await request(ws, { command: 'room:join' })
    receivers.push(ws)
  }
  const sender = await open(senderUrl)
  // Receipts are counted, not parsed: what is measured is the server side, not JSON.parse here.
  let received = 0
  let onReceipt: (() => void) | undefined
  for (const ws of receivers) {
    ws.on('message', () => {
      received++
      onReceipt?.()
    })
  }
  const until = (count: number): Promise<void> =>
    new Promise((resolve) => {
      if (received >= count) return resolve()
      onReceipt = () => {
        if (received >= count) {
          onReceipt = undefined
          resolve()
        }
      }
    })

  // Latency: one push at a time, send → the last receiver has it.
  const latencies: number[] = []
  for (let n = 0; n < PINGS; n++) {
    const target = received + RECEIVERS
    const start = performance.now()
    sender.send(JSON.stringify({ command: 'room:say', n }))
    await until(target)
    latencies.push(performance.now() - start)
  }
  // Throughput: MESSAGES pushes with up to WINDOW requests in flight.
  const base = received
  const start = performance.now()
  let sent = 0
  let replied = 0
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (sent < MESSAGES && sent - replied < WINDOW) sender.send(JSON.stringify({ command: 'room:say', n: sent++ }))
    }
    sender.on('message', () => {
      replied++
      if (replied === MESSAGES) resolve()
      else pump()
    })
    pump()
  })
  await until(base + MESSAGES * RECEIVERS)
  const seconds = (performance.now() - start) / 1000
  for (const ws of [...receivers, sender]) ws.terminate()
  return { deliveriesPerSecond: (MESSAGES * RECEIVERS) / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) }
}

async function stop(children: ChildProcess[]): Promise<void> {
  await Promise.all(children.map((child) => new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve()
    child.removeAllListeners('exit')
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
  })))
}

async function main(): Promise<void> {
  const release = await takeBenchLock(120_000)
  const source = redisSource()
  let redis: RedisServer | undefined
  try {
    if (source.kind === 'none') throw new Error(`no Redis for the two-node runs: ${source.reason}`)
    if (source.kind === 'binary') redis = await RedisServer.start(source.binary)
    const redisUrl = redis?.url ?? (source.kind === 'url' ? source.url : '')
    console.log(`cluster broadcast: ${RECEIVERS} receivers, ${PINGS} pushes one at a time, ${MESSAGES} pushes with ${WINDOW} in flight, best of ${ROUNDS}`)
    console.log(`node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)
    const modes = ROOM_CHANNELS === 'both' ? [false, true] : [ROOM_CHANNELS === 'on']
    const setups: Setup[] = [{ name: 'one node, in-memory adapter', nodes: 1, redis: false, split: false, idle: 0, roomChannels: false }]
    for (const roomChannels of modes) {
      const channels = roomChannels ? 'room channels' : 'one channel'
      setups.push(
        { name: `two nodes + Redis (${channels}), receivers split 50/50`, nodes: 2, redis: true, split: true, idle: 0, roomChannels },
        { name: `two nodes + Redis (${channels}), all receivers on the other node`, nodes: 2, redis: true, split: false, idle: 0, roomChannels },
        { name: `three nodes + Redis (${channels}), receivers on the second, the third in no room`, nodes: 3, redis: true, split: false, idle: 1, roomChannels },
      )
    }
    for (const setup of setups) {
      const started = await Promise.all(Array.from({ length: setup.nodes }, () => startNode(setup.redis ? redisUrl : undefined, setup.roomChannels)))
      // The idle nodes (the last ones) take no client.
      const urls = started.map((s) => s.url).slice(0, setup.nodes - setup.idle)
      const results: Result[] = []
      try {
        for (let round = 0; round < ROUNDS; round++) {
          await waitForQuiet(5000)
          // The sender is on the first node; receivers on every node, or on the second only.
          results.push(await measure(setup.split || setup.nodes === 1 ? urls : urls.slice(1), urls[0] as string))
        }
      } finally {
        await stop(started.map((s) => s.child))
      }
      const best = results.reduce((a, b) => (b.deliveriesPerSecond > a.deliveriesPerSecond ? b : a))
      const p50 = Math.min(...results.map((r) => r.p50))
      const p99 = Math.min(...results.map((r) => r.p99))
      console.log(`${setup.name.padEnd(82)} ${Math.round(best.deliveriesPerSecond).toLocaleString('en-US').padStart(9)} deliveries/s   send→last receipt p50 ${p50.toFixed(2)} ms  p99 ${p99.toFixed(2)} ms`)
    }
  } finally {
    await redis?.close()
    release?.()
  }
}

if (process.argv.includes('--node')) {
  runNode().catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
} else {
  main().catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
