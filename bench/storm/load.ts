// The reconnect storm's load: real TalkClients (lib/client) on `ws`, each in one room; after the
// drain each reconnects with its own jittered backoff, re-joins its room in onReconnect and sends one request.
import WebSocket from 'ws'
import { readRefusals } from '../../lib/client/refusal'
import { TalkClient, type SocketLike } from '../../lib/client'
import {
  isStormMessage,
  type LoadResult,
  type StormConnectedMessage,
  type StormDoneMessage,
  type StormPublishedMessage,
  type StormPublishMessage,
} from './messages'

/** What the runner hands a load process (as JSON in BENCH_STORM_JOB). */
export interface LoadJob {
  port: number
  /** Global index of this process's first client; client i is in room `r${i % rooms}`, and clients 0 … rooms−1 publish. */
  first: number
  count: number
  rooms: number
  /** Clients connecting at once during the set-up. */
  concurrency: number
  /** The storm ends for this process this long after its publishes were acknowledged, back or not, ms. */
  deadlineMs: number
}

interface Member {
  index: number
  room: string
  publisher: boolean
  client: TalkClient | undefined
  pushes: number
  back: boolean
  closed: boolean
}

const FAILURE_SAMPLES = 5
const now = (): number => performance.timeOrigin + performance.now()

const job = JSON.parse(process.env['BENCH_STORM_JOB'] ?? '{}') as LoadJob
const send = process.send?.bind(process)
if (!send) throw new Error('the storm load runs under bench/storm.ts (it needs the IPC channel)')
process.on('disconnect', () => process.exit(0))

const result: LoadResult = {
  clients: job.count,
  backAt: [],
  closedAt: [],
  requestsOk: 0,
  pushesExpected: 0,
  pushesReceived: 0,
  pushesUnexpected: 0,
  closeCodes: {},
  refusals: {},
  connRefused: 0,
  attempts: 0,
  failures: 0,
  failureSamples: [],
}
const members: Member[] = []
let requestsSettled = 0
let stormStarted = false
let finished = false

/** A `ws` socket as the Node client makes it (refusals read), counting refused upgrades and refused connections. */
function createSocket(url: string): SocketLike {
  const socket = new WebSocket(url)
  readRefusals(socket)
  socket.on('unexpected-response', (_request, response) => {
    const status = String(response.statusCode ?? 0)
    result.refusals[status] = (result.refusals[status] ?? 0) + 1
  })
  socket.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'ECONNREFUSED') result.connRefused++
  })
  return socket as unknown as SocketLike
}

function fail(member: Member, error: unknown): void {
  result.failures++
  if (result.failureSamples.length < FAILURE_SAMPLES) result.failureSamples.push(`client ${member.index}: ${error instanceof Error ? error.message : String(error)}`)
}

/** Connects one member, joins its room, and arms what the storm counts. */
async function connect(member: Member): Promise<void> {
  const client = new TalkClient(`ws://127.0.0.1:${job.port}`, createSocket, {
    heartbeat: false,
    onReconnect: async () => {
      await client.request('join', { room: member.room })
      if (!member.back) {
        member.back = true
        result.backAt.push(now())
      }
      client.request('echo', { n: member.index }).then(
        () => result.requestsOk++,
        (error: unknown) => fail(member, error),
      ).finally(() => {
        requestsSettled++
        check()
      })
    },
  })
  member.client = client
  client.on('news', (payload) => {
    if (member.publisher || member.pushes > 0 || payload['room'] !== member.room || payload['seq'] !== 1) result.pushesUnexpected++
    else result.pushesReceived++
    member.pushes++
  })
  client.on('close', ({ code }) => {
    result.closeCodes[code] = (result.closeCodes[code] ?? 0) + 1
    if (stormStarted && !member.closed) {
      member.closed = true
      result.closedAt.push(now())
    }
  })
  client.on('reconnecting', () => result.attempts++)
  // A re-join that failed (the connection dropped again): counted; the next reconnection tries again.
  client.on('error', (error) => fail(member, error))
  await client.opened()
  await client.request('join', { room: member.room })
}

function check(): void {
  if (!stormStarted || finished) return
  if (result.backAt.length === job.count && requestsSettled >= job.count) finish()
}

function finish(): void {
  if (finished) return
  finished = true
  const done: StormDoneMessage = { type: 'storm-done', result }
  send?.(done)
}

async function setUp(): Promise<void> {
  for (let i = 0; i < job.count; i++) {
    const index = job.first + i
    const publisher = index < job.rooms
    members.push({ index, room: `r${index % job.rooms}`, publisher, client: undefined, pushes: 0, back: false, closed: false })
    if (!publisher) result.pushesExpected++
  }
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < members.length) {
      const member = members[next++] as Member
      await connect(member)
    }
  }
  await Promise.all(Array.from({ length: Math.min(job.concurrency, members.length) }, worker))
  const connected: StormConnectedMessage = { type: 'storm-connected', clients: members.length }
  send?.(connected)
}

/** Every publisher publishes once; resolves when every publish was acknowledged. */
async function publish(): Promise<void> {
  const publishers = members.filter((m) => m.publisher)
  await Promise.all(publishers.map((m) => m.client?.request('publish', { room: m.room, seq: 1 })))
  const published: StormPublishedMessage = { type: 'storm-published', publishes: publishers.length }
  send?.(published)
  stormStarted = true
  setTimeout(finish, job.deadlineMs)
  check()
}

process.on('message', (message: unknown) => {
  if (isStormMessage<StormPublishMessage>(message, 'storm-publish')) {
    publish().catch((error: unknown) => {
      console.error(error)
      process.exit(1)
    })
  }
})

setUp().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
