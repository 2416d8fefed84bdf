import { Demo } from '../demo/demo-server'

describe('the documents demo over REST', () => {
  let demo: Demo
  beforeEach(async () => {
    demo = await Demo.start({ clientBundle: async () => '' })
  })
  afterEach(() => demo.close())

  const get = async (path: string) => {
    const res = await fetch(demo.httpUrl + path)
    return { status: res.status, type: res.headers.get('content-type'), body: (await res.text()) as string }
  }

  it('answers GET /documents/:id with what document:get returns', async () => {
    const ann = await demo.client('ann')
    expect(await ann.request('document/create', { id: 'hello-world' })).toEqual({ status: 'success', ref: 1 })
    const { ref: _ref, ...overSocket } = await ann.request('document/get', { id: 'hello-world' })

    const overHttp = await get('/documents/hello-world')
    expect(overHttp.status).toBe(200)
    expect(JSON.parse(overHttp.body)).toEqual(overSocket)
    // a reader over HTTP is not a member of the document: the sockets hear nothing of it
    await ann.request('document/list')
    expect(ann.pendingPushes).toEqual([])

    const missing = await get('/documents/nope')
    const { ref: _ref2, ...notFound } = await ann.request('document/get', { id: 'nope' })
    expect([missing.status, JSON.parse(missing.body)]).toEqual([404, notFound])
  })

  it('pushes an update made over HTTP to the sockets that have the document open', async () => {
    const ann = await demo.client('ann')
    await ann.request('document/create', { id: 'd1' })
    const res = await fetch(`${demo.httpUrl}/documents/d1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: { title: 'Hello' } }),
    })
    expect([res.status, await res.json()]).toEqual([200, { status: 'success', version: 2, data: { title: 'Hello' } }])
    expect(await ann.nextPush()).toEqual({ command: 'document:update', document: 'd1', version: 2, data: { title: 'Hello' } })
  })

  it('lists the documents at GET /documents', async () => {
    const ann = await demo.client('ann')
    await ann.request('document/create', { id: 'hello-world' })
    const list = await get('/documents')
    expect([list.status, JSON.parse(list.body)]).toEqual([200, { status: 'success', documents: [{ id: 'hello-world', version: 1, nodes: 0 }] }])
  })

  it('still serves the page and its files', async () => {
    const page = await get('/')
    expect([page.status, page.type]).toEqual([200, 'text/html; charset=utf-8'])
    expect((await get('/nope')).status).toBe(404)
  })
})
