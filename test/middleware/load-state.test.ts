import { loadState, talk, TalkError, type TalkApp } from '../../index'
import { testServer, type TestClient, type TestServer } from '../../lib/testing'
import { silent } from '../helpers/seed-app'

interface Doc {
  id: string
  title: string
  revision: number
}

describe('loadState', () => {
  let app: TalkApp
  let server: TestServer
  let docs: Map<string, Doc>
  let loads: string[]
  beforeEach(() => {
    app = talk({ logger: silent })
    docs = new Map([
      ['d1', { id: 'd1', title: 'One', revision: 1 }],
      ['d2', { id: 'd2', title: 'Two', revision: 1 }],
      ['d3', { id: 'd3', title: 'Three', revision: 1 }],
    ])
    loads = []
    app.route('open', (ctx) => {
      ctx.state.document = ctx.body.id
    })
  })
  afterEach(() => server.close())

  const load = (_ctx: unknown, id: string): Doc | undefined => {
    loads.push(id)
    return docs.get(id)
  }
  const current = (ctx: { state: Record<string, unknown> }) => (typeof ctx.state.document === 'string' ? ctx.state.document : undefined)

  it("puts the client's current document on ctx.locals for the handler, read typed with .get()", async () => {
    const document = loadState({ key: 'document', id: current, load, missing: 'Open a document first' })
    app.route('title', document, (ctx) => ({ title: document.get(ctx).title, same: ctx.locals.document === document.get(ctx) }))
    server = await testServer(app)
    const client = await server.client()
    await client.request('open', { id: 'd2' })
    expect(await client.request('title')).toEqual({ status: 'success', ref: 2, title: 'Two', same: true })
  })

  it('answers BAD_REQUEST when there is nothing to load and NOT_FOUND when nothing is found, and the connection goes on', async () => {
    const document = loadState({ key: 'document', id: current, load, missing: 'Open a document first', notFound: (id) => `No document ${id}` })
    const anything = loadState({ id: (ctx) => ctx.body.id as string | undefined, load })
    app.route('title', document, (ctx) => ({ title: document.get(ctx).title }))
    app.route('peek', anything, (ctx) => ({ title: anything.get(ctx).title }))
    server = await testServer(app)
    const client = await server.client()
    expect(await client.request('title')).toEqual({ status: 'error', ref: 1, error: { code: 'BAD_REQUEST', message: 'Open a document first' } })
    await client.request('open', { id: 'gone' })
    expect(await client.request('title')).toEqual({ status: 'error', ref: 3, error: { code: 'NOT_FOUND', message: 'No document gone' } })
    expect(await client.request('peek', { id: 'nope' })).toEqual({ status: 'error', ref: 4, error: { code: 'NOT_FOUND', message: 'Not found: nope' } })
    expect(await client.request('peek')).toEqual({ status: 'error', ref: 5, error: { code: 'BAD_REQUEST', message: 'Nothing to load for this request' } })
    await client.request('open', { id: 'd1' })
    expect(await client.request('title')).toEqual({ status: 'success', ref: 7, title: 'One' })
  })

  it('lets the handler see undefined when not required, and awaits an async loader', async () => {
    const maybe = loadState({ id: current, required: false, load: async (_ctx, id) => Promise.resolve(docs.get(id)) })
    app.route('maybe', maybe, (ctx) => ({ title: maybe.peek(ctx)?.title ?? null }))
    server = await testServer(app)
    const client = await server.client()
    expect(await client.request('maybe')).toEqual({ status: 'success', ref: 1, title: null })
    await client.request('open', { id: 'nope' })
    expect(await client.request('maybe')).toEqual({ status: 'success', ref: 3, title: null })
    await client.request('open', { id: 'd3' })
    expect(await client.request('maybe')).toEqual({ status: 'success', ref: 5, title: 'Three' })
  })

  it("passes on a loader's TalkError, and answers INTERNAL for its crash", async () => {
    const failing = loadState({
      id: (ctx) => ctx.body.id as string | undefined,
      load: (_ctx, id) => {
        if (id === 'private') throw new TalkError('FORBIDDEN', 'Not yours')
        throw new Error('disk on fire')
      },
    })
    app.route('get', failing, () => ({}))
    server = await testServer(app)
    const client = await server.client()
    expect(await client.request('get', { id: 'private' })).toEqual({ status: 'error', ref: 1, error: { code: 'FORBIDDEN', message: 'Not yours' } })
    expect(await client.request('get', { id: 'x' })).toEqual({ status: 'error', ref: 2, error: { code: 'INTERNAL', message: 'Internal server error' } })
    expect(await client.request('open', { id: 'x' })).toEqual({ status: 'success', ref: 3 })
  })

  describe('with a cache', () => {
    it('loads once per connection and id until invalidated (one client, one id, or all)', async () => {
      const document = loadState({ key: 'document', id: current, load, cache: true })
      app.route('title', document, (ctx) => ({ title: document.get(ctx).title }))
      app.route('rename', document, (ctx) => {
        document.get(ctx).title = String(ctx.body.title)
        docs.set(document.get(ctx).id, { ...document.get(ctx) })
        document.invalidate(ctx.client, document.get(ctx).id)
      })
      app.route('forget-mine', (ctx) => document.invalidate(ctx.client))
      app.route('forget-all', () => document.invalidate())
      server = await testServer(app)
      const [a, b] = (await server.clients(2)) as [TestClient, TestClient]
      await a.request('open', { id: 'd1' })
      await b.request('open', { id: 'd1' })
      await a.request('title')
      await a.request('title')
      await b.request('title')
      expect(loads).toEqual(['d1', 'd1']) // once per connection
      await a.request('rename', { title: 'Uno' })
      expect(await a.request('title')).toEqual({ status: 'success', ref: 5, title: 'Uno' })
      expect(loads).toEqual(['d1', 'd1', 'd1'])
      await a.request('forget-mine')
      await a.request('title')
      expect(loads).toHaveLength(4)
      await b.request('forget-all')
      await a.request('title')
      expect(await b.request('title')).toEqual({ status: 'success', ref: 4, title: 'Uno' })
      expect(loads).toHaveLength(6)
    })

    it('loads again when the version changes, and keeps at most `max` entries per connection', async () => {
      const byId = loadState({
        id: (ctx) => ctx.body.id as string | undefined,
        load,
        cache: { max: 2, version: (_ctx, id) => docs.get(id)?.revision },
      })
      app.route('get', byId, (ctx) => ({ title: byId.get(ctx).title }))
      server = await testServer(app)
      const client = await server.client()
      await client.request('get', { id: 'd1' })
      await client.request('get', { id: 'd1' })
      expect(loads).toEqual(['d1'])
      docs.set('d1', { id: 'd1', title: 'One, revised', revision: 2 })
      expect(await client.request('get', { id: 'd1' })).toEqual({ status: 'success', ref: 3, title: 'One, revised' })
      expect(loads).toEqual(['d1', 'd1'])
      await client.request('get', { id: 'd2' })
      await client.request('get', { id: 'd3' }) // drops d1, the oldest
      await client.request('get', { id: 'd2' })
      await client.request('get', { id: 'd1' })
      expect(loads).toEqual(['d1', 'd1', 'd2', 'd3', 'd1'])
    })

    it('does not cache a miss', async () => {
      const byId = loadState({ id: (ctx) => ctx.body.id as string | undefined, load, cache: true })
      app.route('get', byId, (ctx) => ({ title: byId.get(ctx).title }))
      server = await testServer(app)
      const client = await server.client()
      expect((await client.request('get', { id: 'd9' })).status).toBe('error')
      docs.set('d9', { id: 'd9', title: 'Nine', revision: 1 })
      expect(await client.request('get', { id: 'd9' })).toEqual({ status: 'success', ref: 2, title: 'Nine' })
    })
  })

  it('checks its options at start-up', async () => {
    expect(() => loadState({} as never)).toThrow(TypeError)
    expect(() => loadState({ load, key: '' })).toThrow(TypeError)
    expect(() => loadState({ load, cache: { max: 0 } })).toThrow(TypeError)
    expect(() => loadState({ load, id: 'document' as never })).toThrow(TypeError)
    expect(() => loadState({ load, notFound: 404 as never })).toThrow(TypeError)
    server = await testServer(app)
  })
})
