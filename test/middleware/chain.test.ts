import { z } from 'zod'
import { auth, loadState, talk, TalkError, validate, type Context, type TalkApp } from '../../index'
import { testServer, type TestServer } from '../../lib/testing'
import { silent } from '../helpers/seed-app'
import { expectSeedConversation } from '../helpers/seed-conversation'
import { upgrade } from './helpers'

interface Doc {
  id: string
  nodes: { id: number; type: string; data: unknown }[]
}

const DocumentId = z.object({ id: z.string().min(1).max(200) })
const NodeBody = z.object({ type: z.string().max(200), data: z.unknown() })

/** The seed's app built from the bundled middleware: auth at the handshake → validate → loadState → handler. */
function seedWithMiddleware(): TalkApp {
  const app = talk({ logger: silent })
  const docs = new Map<string, Doc>()
  // Opaque tokens `token-<name>` stand in for real ones; the header or a query parameter carries them.
  app.use(auth({ from: ['header', 'query'], verify: (token) => (token.startsWith('token-') ? { user: { name: token.slice(6) } } : undefined) }))

  const open = (ctx: Context, doc: Doc): void => {
    const previous = ctx.state.document
    if (typeof previous === 'string' && previous !== doc.id) ctx.leave(`document/${previous}`)
    ctx.state.document = doc.id
    ctx.join(`document/${doc.id}`)
  }
  const named = loadState<Doc>({ key: 'document', id: (ctx) => ctx.body.id as string, load: (_ctx, id) => docs.get(id), notFound: (id) => `No document ${id}` })
  const current = loadState<Doc>({
    key: 'document',
    id: (ctx) => (typeof ctx.state.document === 'string' ? ctx.state.document : undefined),
    load: (_ctx, id) => docs.get(id),
    missing: 'Open a document first',
  })

  app.route('document/create', validate({ body: DocumentId }), auth.require(), (ctx) => {
    if (docs.has(ctx.body.id)) throw new TalkError('CONFLICT', `Document ${ctx.body.id} exists`)
    const doc = { id: ctx.body.id, nodes: [] }
    docs.set(doc.id, doc)
    open(ctx, doc)
  })
  app.route('document/get', validate({ body: DocumentId }), auth.require(), named, async (ctx) => {
    const doc = named.get(ctx)
    open(ctx, doc)
    const members = await ctx.presence(`document/${doc.id}`)
    return { document: doc, 'active-users': members.map((m) => m.user?.name).sort() }
  })
  app.route('node/create', validate({ body: NodeBody }), auth.require(), current, (ctx) => {
    const doc = current.get(ctx)
    const node = { id: doc.nodes.length + 1, type: ctx.body.type, data: ctx.body.data }
    doc.nodes.push(node)
    ctx.to(`document/${doc.id}`).send('node:create', node)
    return { node }
  })
  return app
}

describe('the seed conversation through auth → validate → loadState', () => {
  let server: TestServer
  beforeEach(async () => {
    server = await testServer(seedWithMiddleware())
  })
  afterEach(() => server.close())

  it('passes end to end with three authenticated clients', async () => {
    const client1 = await server.client({ headers: { Authorization: 'Bearer token-client1' } })
    const client2 = await server.client({ query: 'token=token-client2' })
    const client3 = await server.client({ headers: { Authorization: 'Bearer token-client3' } })

    await expectSeedConversation(client1, client2)

    expect(await client3.request('document/get', { id: 'nope' })).toEqual({
      status: 'error', ref: 1, error: { code: 'NOT_FOUND', message: 'No document nope' },
    })
    expect(client3.pendingPushes).toEqual([])
    expect(client1.pendingPushes).toEqual([])
  })

  it('answers each failure with its code from the step that owns it, and the connection goes on', async () => {
    expect(await upgrade(server.port)).toEqual({
      status: 401, upgraded: false, body: { status: 'error', error: { code: 'UNAUTHORIZED', message: 'Missing token' } },
    })
    const client = await server.client({ headers: { Authorization: 'Bearer token-ada' } })
    expect(await client.request('node/create', { type: 'task', data: {} })).toEqual({
      status: 'error', ref: 1, error: { code: 'BAD_REQUEST', message: 'Open a document first' },
    })
    expect(await client.request('document/create', { id: '' })).toEqual({
      status: 'error', ref: 2,
      error: { code: 'VALIDATION_FAILED', message: 'Request body is invalid', details: [{ path: ['id'], message: expect.any(String), code: 'too_small' }] },
    })
    expect(await client.request('document/create', { id: 'd1' })).toEqual({ status: 'success', ref: 3 })
    expect(await client.request('document/create', { id: 'd1' })).toEqual({
      status: 'error', ref: 4, error: { code: 'CONFLICT', message: 'Document d1 exists' },
    })
    expect(await client.request('node/create', { type: 'task', data: { n: 1 } })).toEqual({
      status: 'success', ref: 5, node: { id: 1, type: 'task', data: { n: 1 } },
    })
  })
})
