// Compile-time checks of typed routes: `npm test` runs `tsc --noEmit` over this file. Every
// `@ts-expect-error` line must fail to compile, or tsc reports the directive as unused.
import { z } from 'zod'
import type { RouteMap } from '../../index'
import { connect, type TalkClient } from '../../lib/client'
import { connect as connectInBrowser } from '../../lib/client/browser'

const DocumentId = z.object({ id: z.string().min(1) })
const Node = z.object({ id: z.number(), type: z.string(), data: z.unknown() })

export const routes = {
  'document/get': {
    body: DocumentId,
    reply: z.object({ document: z.object({ id: z.string(), nodes: z.array(Node) }), 'active-users': z.array(z.string()) }),
  },
  'node/create': {
    body: z.object({ type: z.string(), data: z.unknown(), position: z.number().default(0) }),
    reply: z.object({ node: Node }),
  },
  'document/list': { reply: z.object({ ids: z.array(z.string()) }) },
  'audit/log': { body: z.object({ line: z.string() }) },
} satisfies RouteMap

export async function typedRequests(): Promise<void> {
  const client = await connect<typeof routes>('ws://127.0.0.1:3000')

  // Name, payload and result are all typed.
  const got = await client.request('document/get', { id: 'hello-world' })
  const nodes: { id: number; type: string; data: unknown }[] = got.document.nodes
  const users: string[] = got['active-users']
  // The colon spelling names the same route.
  const same = await client.request('document:get', { id: 'x' })
  const title: string = same.document.id
  // Input types: a field with a default may be left out; the result is the reply's output type.
  const created = await client.request('node/create', { type: '/type/task', data: { name: 'A new task' } })
  const nodeId: number = created.node.id
  // A route without a body takes no payload; one without a reply resolves with a loose object.
  const list = await client.request('document/list')
  const ids: string[] = list.ids
  const logged: Record<string, unknown> = await client.request('audit/log', { line: 'x' })
  client.send('node:create', { type: 't', data: 1 }, { timeout: 100 })

  // @ts-expect-error: an unknown route name
  await client.request('document/gett', { id: 'x' })
  // @ts-expect-error: a wrong field name
  await client.request('document/get', { idd: 'x' })
  // @ts-expect-error: a field of the wrong type
  await client.request('document/get', { id: 42 })
  // @ts-expect-error: the payload is required when the body has required fields
  await client.request('document/get')
  // @ts-expect-error: the reply has no such field
  void got.documents
  // @ts-expect-error: send() checks names too
  client.send('node/crate', { type: 't', data: 1 })
  // @ts-expect-error: a wrong option
  await client.request('document/list', {}, { timeout: 'soon' })

  void [nodes, users, title, nodeId, ids, logged]
}

export async function untypedRequests(): Promise<void> {
  // Without a route map any name and object payload go, and results are loose objects.
  const client: TalkClient = await connect('ws://127.0.0.1:3000')
  const anything: Record<string, unknown> = await client.request('whatever/route', { any: 'thing' })
  await client.request('no/payload')
  // @ts-expect-error: a payload must be an object
  await client.request('whatever/route', 'text')
  void anything
}

export async function browserEntry(): Promise<void> {
  const client = await connectInBrowser<typeof routes>('/')
  const { node } = await client.request('node:create', { type: 't', data: null })
  const n: number = node.id
  // @ts-expect-error: the browser entry is typed the same way
  await client.request('node:create', { typ: 't', data: null })
  void n
}

export function events(client: TalkClient<typeof routes>): void {
  client.on('reconnected', ({ resumed, client: id }) => {
    const r: boolean = resumed
    const s: string = id
    void [r, s]
  })
  client.on('close', (e) => void (e.willReconnect satisfies boolean))
  client.on('node:create', (payload, name) => void [payload.id, name.length])
  // @ts-expect-error: reconnecting tells the attempt, not resumed
  client.on('reconnecting', (e) => e.resumed)
}
