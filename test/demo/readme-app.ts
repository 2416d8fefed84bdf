import { talk, TalkError, type Context } from 'talk'
import { z } from 'zod'

const app = talk()
const docs = new Map<string, { id: string; nodes: unknown[] }>()
const Id = { body: z.object({ id: z.string().min(1).max(64) }) }
app.handshake((hs) => { hs.user = { name: hs.query.user ?? 'guest' } })

async function open(ctx: Context, id: string) { // the client's current document, and its room
  ctx.state.document = id
  ctx.join(`document/${id}`)
  return (await ctx.presence(`document/${id}`)).map((member) => member.user?.name)
}
app.route('document/create', Id, async (ctx) => {
  if (docs.has(ctx.body.id)) throw new TalkError('CONFLICT', `Document ${ctx.body.id} exists`)
  docs.set(ctx.body.id, { id: ctx.body.id, nodes: [] })
  await open(ctx, ctx.body.id)
})
app.route('document/get', Id, async (ctx) => {
  const doc = docs.get(ctx.body.id)
  if (doc === undefined) throw new TalkError('NOT_FOUND', `No document ${ctx.body.id}`)
  return { document: doc, 'active-users': await open(ctx, doc.id) }
})
app.route('node/create', { body: z.object({ type: z.string(), data: z.unknown() }) }, (ctx) => {
  const doc = docs.get(String(ctx.state.document))
  if (doc === undefined) throw new TalkError('BAD_REQUEST', 'Open a document first')
  doc.nodes.push(ctx.body)
  ctx.to(`document/${doc.id}`).send('node:create', ctx.body) // to everyone else who has it open
})

app.listen(Number(process.env.PORT ?? 3000)).then(({ url }) => console.log(`listening on ${url}`))
