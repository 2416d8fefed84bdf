import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { z } from 'zod'
import { bridge, resource, talk, TalkError, type TalkApp } from '../../index'
import { TestClient } from '../../lib/testing'
import { silent } from '../helpers/seed-app'

/** Talk has taken over get and create of documents; delete is still the old Express handler. */
function documentsApp(docs: Map<string, { id: string; title: string }>): TalkApp {
  const app = talk({ logger: silent })
  app.route('document/open', { body: z.object({ id: z.string() }) }, (ctx) => ctx.join(`document/${ctx.body.id}`))
  app.route('document/get', { body: z.object({ id: z.string() }) }, (ctx) => {
    const document = docs.get(ctx.body.id)
    if (document === undefined) throw new TalkError('NOT_FOUND', `No document ${ctx.body.id}`)
    return { document }
  })
  app.route('document/update', { body: z.object({ id: z.string(), title: z.string().min(1) }) }, (ctx) => {
    const document = { id: ctx.body.id, title: ctx.body.title }
    docs.set(document.id, document)
    ctx.to(`document/${document.id}`).send('document:update', { document })
    return { document }
  })
  return app
}

describe('REST bridge in an existing Express 5 app', () => {
  let server: Server
  let talkApp: TalkApp
  let base: string
  let sockets: TestClient[]

  beforeEach(async () => {
    const docs = new Map([['d1', { id: 'd1', title: 'First' }]])
    talkApp = documentsApp(docs)
    const api = express()
    api.get('/health', (_req, res) => {
      res.json({ ok: true })
    })
    api.delete('/api/documents/:id', (req, res) => {
      docs.delete(req.params.id)
      res.status(200).json({ deleted: req.params.id, by: 'express' })
    })
    api.use('/api', bridge(talkApp, { routes: resource('/documents', 'document') }))
    // an old JSON endpoint that still uses Express's body parser, after the bridge
    api.post('/legacy/echo', express.json(), (req, res) => {
      res.json({ echo: req.body as unknown })
    })
    server = await new Promise<Server>((resolve) => {
      const s = api.listen(0, '127.0.0.1', () => resolve(s))
    })
    talkApp.attach(server)
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    sockets = []
  })

  afterEach(async () => {
    await Promise.all(sockets.map((s) => s.close()))
    await talkApp.close()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  const socket = async (): Promise<TestClient> => {
    const client = await TestClient.connect(base.replace('http', 'ws'))
    sockets.push(client)
    return client
  }

  it('serves Express routes, Talk routes over HTTP and Talk sockets on one port', async () => {
    const health = await fetch(`${base}/health`)
    expect([health.status, await health.json()]).toEqual([200, { ok: true }])

    const got = await fetch(`${base}/api/documents/d1`)
    expect([got.status, await got.json()]).toEqual([200, { status: 'success', document: { id: 'd1', title: 'First' } }])

    const watcher = await socket()
    await watcher.request('document/open', { id: 'd1' })
    const updated = await fetch(`${base}/api/documents/d1`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'Renamed' }),
    })
    expect([updated.status, await updated.json()]).toEqual([200, { status: 'success', document: { id: 'd1', title: 'Renamed' } }])
    expect(await watcher.nextPush()).toEqual({ command: 'document:update', document: { id: 'd1', title: 'Renamed' } })
    expect(await watcher.request('document/get', { id: 'd1' })).toEqual({ status: 'success', ref: 2, document: { id: 'd1', title: 'Renamed' } })
  })

  it('passes what Talk does not serve on to Express: unported routes, other paths, its 404', async () => {
    // document/delete is not a Talk route: the old Express handler still answers
    const deleted = await fetch(`${base}/api/documents/d1`, { method: 'DELETE' })
    expect([deleted.status, await deleted.json()]).toEqual([200, { deleted: 'd1', by: 'express' }])
    // document/list and document/create are not Talk routes either, and Express has none: its own 404
    const list = await fetch(`${base}/api/documents`)
    expect(list.status).toBe(404)
    expect(await list.text()).toContain('Cannot GET /api/documents')

    const echo = await fetch(`${base}/legacy/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })
    expect(await echo.json()).toEqual({ echo: { a: 1 } })
  })

  it('answers Talk errors with their status inside Express', async () => {
    const missing = await fetch(`${base}/api/documents/nope`)
    expect([missing.status, await missing.json()]).toEqual([404, { status: 'error', error: { code: 'NOT_FOUND', message: 'No document nope' } }])
    const bad = await fetch(`${base}/api/documents/d1`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"title":' })
    expect([bad.status, await bad.json()]).toEqual([400, { status: 'error', error: { code: 'BAD_REQUEST', message: 'Body is not valid JSON' } }])
  })

  it('uses a body an Express parser mounted before the bridge already read', async () => {
    const api = express()
    api.use(express.json())
    api.use(bridge(talkApp, { routes: { 'POST /documents/:id': 'document/update' } }))
    const other = await new Promise<Server>((resolve) => {
      const s = api.listen(0, '127.0.0.1', () => resolve(s))
    })
    try {
      const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}/documents/d2`
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"title":"Parsed"}' })
      expect([res.status, await res.json()]).toEqual([200, { status: 'success', document: { id: 'd2', title: 'Parsed' } }])
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()))
    }
  })

  it('refuses a form even when an Express form parser mounted before the bridge already read it (CSRF)', async () => {
    const api = express()
    api.use(express.urlencoded({ extended: false }))
    api.use(bridge(talkApp, { routes: { 'POST /documents/:id': 'document/update' } }))
    const other = await new Promise<Server>((resolve) => {
      const s = api.listen(0, '127.0.0.1', () => resolve(s))
    })
    try {
      const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}/documents/d3`
      const form = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'title=Forged' })
      expect([form.status, await form.json()]).toEqual([400, { status: 'error', error: { code: 'BAD_REQUEST', message: 'Content-Type must be application/json' } }])
      const json = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"title":"Real"}' })
      expect([json.status, await json.json()]).toEqual([200, { status: 'success', document: { id: 'd3', title: 'Real' } }])
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()))
    }
  })
})
