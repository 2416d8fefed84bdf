import pino from 'pino'
import { z } from 'zod'
import { talk, TalkError, type TalkApp, type TalkOptions } from '../../index'

/** A quiet logger for tests. */
export const silent = pino({ level: 'silent' })

interface Doc {
  id: string
  nodes: { id: number; type: string; data: unknown }[]
}

/** The seed conversation's routes, in memory: the smallest app that speaks DESIGN.md §2. */
export function seedApp(options: TalkOptions = {}): TalkApp {
  const app = talk({ logger: silent, ...options })
  const docs = new Map<string, Doc>()
  app.handshake((hs) => {
    hs.user = { name: hs.query.user ?? 'anonymous' }
  })
  const open = async (ctx: { state: Record<string, unknown>; join(room: string): void; leave(room: string): void }, id: string) => {
    const previous = ctx.state.document
    if (typeof previous === 'string' && previous !== id) ctx.leave(`document/${previous}`)
    ctx.state.document = id
    ctx.join(`document/${id}`)
  }
  app.route('document/create', { body: z.object({ id: z.string().min(1) }) }, async (ctx) => {
    if (docs.has(ctx.body.id)) throw new TalkError('CONFLICT', `Document ${ctx.body.id} exists`)
    docs.set(ctx.body.id, { id: ctx.body.id, nodes: [] })
    await open(ctx, ctx.body.id)
  })
  app.route('document/get', { body: z.object({ id: z.string().min(1) }) }, async (ctx) => {
    const doc = docs.get(ctx.body.id)
    if (doc === undefined) throw new TalkError('NOT_FOUND', `No document ${ctx.body.id}`)
    await open(ctx, doc.id)
    const members = await ctx.presence(`document/${doc.id}`)
    ctx.reply({ document: doc, 'active-users': members.map((m) => m.user?.name).sort() })
  })
  app.route('node/create', { body: z.object({ type: z.string(), data: z.unknown() }) }, (ctx) => {
    const id = ctx.state.document
    const doc = typeof id === 'string' ? docs.get(id) : undefined
    if (doc === undefined) throw new TalkError('BAD_REQUEST', 'Open a document first')
    const node = { id: doc.nodes.length + 1, type: ctx.body.type, data: ctx.body.data }
    doc.nodes.push(node)
    ctx.to(`document/${doc.id}`).send('node:create', node)
    return { node }
  })
  return app
}
