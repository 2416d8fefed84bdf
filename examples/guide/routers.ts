// examples/guide/routers.ts
import { Router, talk, TalkError } from 'talk'
import { z } from 'zod'

export const app = talk()
const nodes = new Router()
const store = new Map<string, { id: string; name: string }[]>()
const InDocument = z.object({ doc: z.string().max(100) })

// A spec's zod schemas check the input (VALIDATION_FAILED) and type ctx.body and ctx.params.
nodes.route('add', { params: InDocument, body: z.object({ name: z.string().min(1).max(200) }) }, (ctx) => {
  const list = store.get(ctx.params.doc) ?? []
  const node = { id: String(list.length + 1), name: ctx.body.name }
  store.set(ctx.params.doc, [...list, node])
  return { node }
})

nodes.route('get/:node', { params: InDocument.extend({ node: z.string() }) }, (ctx) => {
  const node = store.get(ctx.params.doc)?.find((n) => n.id === ctx.params.node)
  if (node === undefined) throw new TalkError('NOT_FOUND', `No node ${ctx.params.node}`)
  return { node }
})

// Mounted under a prefix with a parameter: "document/42/nodes/add", "document/42/nodes/get/1".
app.use('document/:doc/nodes', nodes)
