/**
 * One Talk node as its own process, for the Redis tests (forked by ./nodes.ts): the seed
 * conversation's routes with documents in a Redis store, a Redis adapter, and a few routes to
 * join rooms, push and read presence, and a slow request that counts its runs. Env: REDIS_URL, TALK_PREFIX,
 * TALK_LEASE_MS, TALK_PRESENCE_EVENTS=1, TALK_ROOM_CHANNELS=1, TALK_RESUME=1.
 * It sends `{ type: 'ready', port, nodeId }` over IPC once listening and answers
 * `{ type: 'stats', id }` with `{ type: 'stats', id, stats }`; SIGTERM closes it gracefully.
 */
import pino from 'pino'
import { z } from 'zod'
import { talk, TalkError } from '../../index'
import { redisAdapter } from '../../lib/adapters/redis'
import { redisStore } from '../../lib/store/redis'

interface Doc {
  id: string
  nodes: { id: number; type: string; data: unknown }[]
}

const url = process.env.REDIS_URL
const prefix = process.env.TALK_PREFIX ?? 'talk-test:'
const adapter = redisAdapter({ url, prefix, leaseMs: Number(process.env.TALK_LEASE_MS ?? 1000), roomChannels: process.env.TALK_ROOM_CHANNELS === '1' })
const docs = redisStore<Doc>({ url, prefix: `${prefix}docs:` })
const app = talk({
  adapter,
  presenceEvents: process.env.TALK_PRESENCE_EVENTS === '1',
  // A log long enough for the resume tests' writers, which push as fast as they can while a session moves.
  resume: process.env.TALK_RESUME === '1' ? { maxPushes: 10_000 } : false,
  logger: pino({ level: process.env.TALK_NODE_LOG ?? 'error' }, pino.destination(2)),
})

app.handshake((hs) => {
  hs.user = { name: hs.query.user ?? 'anonymous' }
})

const Id = z.object({ id: z.string().min(1) })
const Room = z.object({ room: z.string().min(1) })

function open(ctx: { state: Record<string, unknown>; join(room: string): void; leave(room: string): void }, id: string): void {
  const previous = ctx.state.document
  if (typeof previous === 'string' && previous !== id) ctx.leave(`document/${previous}`)
  ctx.state.document = id
  ctx.join(`document/${id}`)
}

app.route('document/create', { body: Id }, async (ctx) => {
  let existed = false
  await docs.update(ctx.body.id, (current) => {
    existed = current !== undefined
    return existed ? undefined : { id: ctx.body.id, nodes: [] }
  })
  if (existed) throw new TalkError('CONFLICT', `Document ${ctx.body.id} exists`)
  open(ctx, ctx.body.id)
})

app.route('document/get', { body: Id }, async (ctx) => {
  const doc = await docs.get(ctx.body.id)
  if (doc === undefined) throw new TalkError('NOT_FOUND', `No document ${ctx.body.id}`)
  open(ctx, doc.id)
  const members = await ctx.presence(`document/${doc.id}`)
  ctx.reply({ document: doc, 'active-users': members.map((m) => String(m.user?.name)).sort() })
})

app.route('node/create', { body: z.object({ type: z.string(), data: z.unknown() }) }, async (ctx) => {
  const id = ctx.state.document
  if (typeof id !== 'string') throw new TalkError('BAD_REQUEST', 'Open a document first')
  const doc = await docs.update(id, (current) =>
    current === undefined ? undefined : { ...current, nodes: [...current.nodes, { id: current.nodes.length + 1, type: ctx.body.type, data: ctx.body.data }] },
  )
  const node = doc?.nodes.at(-1)
  if (node === undefined) throw new TalkError('NOT_FOUND', `No document ${id}`)
  ctx.to(`document/${id}`).send('node:create', node)
  return { node }
})

app.route('room/join', { body: Room }, (ctx) => {
  ctx.join(ctx.body.room)
})

app.route('room/say', { body: Room.extend({ text: z.string() }) }, (ctx) => {
  ctx.to(ctx.body.room).send('room:said', { room: ctx.body.room, text: ctx.body.text })
})

app.route('presence/get', { body: Room }, async (ctx) => {
  const members = await ctx.presence(ctx.body.room)
  return { members: members.map((m) => m.id).sort() }
})

app.route('client/push', { body: z.object({ to: z.string(), text: z.string() }) }, (ctx) => {
  app.sendTo(ctx.body.to, 'direct', { from: ctx.client.id, text: ctx.body.text })
})

// Tells its client it started (a push), waits `ms`, then counts the run in the store: a test can
// cut the client's socket while it runs and check that a retry elsewhere does not run it again.
app.route('work/slow', { body: z.object({ key: z.string(), ms: z.number() }) }, async (ctx) => {
  app.sendTo(ctx.client.id, 'work:started', { key: ctx.body.key })
  await new Promise((resolve) => setTimeout(resolve, ctx.body.ms))
  const doc = await docs.update(`runs:${ctx.body.key}`, (current) => ({
    id: `runs:${ctx.body.key}`,
    nodes: [...(current?.nodes ?? []), { id: (current?.nodes.length ?? 0) + 1, type: 'run', data: app.nodeId }],
  }))
  return { key: ctx.body.key, run: doc?.nodes.length ?? 0 }
})

app.route('work/runs', { body: z.object({ key: z.string() }) }, async (ctx) => {
  const doc = await docs.get(`runs:${ctx.body.key}`)
  return { runs: doc?.nodes.length ?? 0 }
})

process.on('message', (message: unknown) => {
  if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'stats') {
    process.send?.({ type: 'stats', id: (message as { id?: unknown }).id, stats: adapter.stats() })
  }
})

process.once('SIGTERM', () => {
  void Promise.all([app.close(), docs.close()]).then(() => process.exit(0))
})

app.listen(0, '127.0.0.1').then(
  ({ port }) => process.send?.({ type: 'ready', port, nodeId: app.nodeId }),
  (err: unknown) => {
    console.error(err)
    process.exit(1)
  },
)
