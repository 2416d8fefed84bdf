import { z } from 'zod'
import { TalkError, type TalkApp } from '../../index'
import { connect, createClient, type TalkClient } from '../../lib/client'
import { testServer, type TestServer } from '../../lib/testing'
import { gate, type Gate } from '../helpers/gate'
import { seedApp } from '../helpers/seed-app'
import { appEvent, clientEvent, until } from './helpers'

describe('TalkClient requests and pushes', () => {
  let server: TestServer
  let app: TalkApp
  let held: Gate
  const clients: TalkClient[] = []
  const open = async (query = '', options = {}) => {
    const client = await connect(`${server.url}${query}`, { heartbeat: false, ...options })
    clients.push(client)
    return client
  }

  beforeEach(async () => {
    app = seedApp({ closeTimeout: 200 })
    held = gate()
    app.route('slow', async () => {
      await held.wait
      return { late: true }
    })
    app.route('echo', (ctx) => ({ body: ctx.body }))
    app.route('strict', { body: z.object({ n: z.number().int() }) }, (ctx) => ({ n: ctx.body.n }))
    server = await testServer(app)
  })
  afterEach(async () => {
    held.open()
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await server.close()
  })

  it('runs the seed conversation: payloads without status and ref, pushes in either spelling', async () => {
    const client1 = await open('?user=client1')
    const client2 = await open('?user=client2')
    const colon: unknown[] = []
    const slash: unknown[] = []
    client2.on('node:create', (payload) => colon.push(payload))
    client2.on('node/create', (payload) => slash.push(payload))
    const pushed = new Promise((resolve) => client2.once('node:create', resolve))

    expect(await client1.request('document:create', { id: 'hello-world' })).toEqual({})
    expect(await client2.request('document/get', { id: 'hello-world' })).toEqual({
      document: { id: 'hello-world', nodes: [] },
      'active-users': ['client1', 'client2'],
    })
    const node = { id: 1, type: '/type/task', data: { name: 'A new task' } }
    expect(await client1.request('node:create', { type: '/type/task', data: { name: 'A new task' } })).toEqual({ node })
    await pushed
    expect(colon).toEqual([node])
    expect(slash).toEqual([node])
    expect(client1.id).toEqual(expect.any(String))
    expect(client1.id).not.toBe(client2.id)
  })

  it('rejects with the server error as a TalkError, and the connection still works', async () => {
    const client = await open()
    const failed = await client.request('strict', { n: 'x' }).catch((err: unknown) => err)
    expect(failed).toBeInstanceOf(TalkError)
    expect(failed).toMatchObject({
      code: 'VALIDATION_FAILED',
      message: 'Request body is invalid',
      details: [{ path: ['n'], message: expect.any(String), code: 'invalid_type' }],
    })
    await expect(client.request('document/get', { id: 'nope' })).rejects.toEqual(new TalkError('NOT_FOUND', 'No document nope'))
    await expect(client.request('no/such/route')).rejects.toMatchObject({ code: 'NOT_FOUND' })
    expect(await client.request('strict', { n: 2 })).toEqual({ n: 2 })
  })

  it('rejects with TIMEOUT when no reply comes in time, ignores the late reply, and keeps working', async () => {
    const client = await open('', { timeout: 0 })
    const late = client.request('slow', {}, { timeout: 50 })
    await expect(late).rejects.toMatchObject({ code: 'TIMEOUT', message: 'No reply to slow within 50 ms' })
    held.open()
    // The late reply arrives before this one (in order per connection) and is dropped.
    expect(await client.request('echo', { a: 1 })).toEqual({ body: { a: 1 } })
  })

  it('rejects with ABORTED when the signal aborts, before or after sending', async () => {
    const client = await open()
    const controller = new AbortController()
    const pending = client.request('slow', {}, { signal: controller.signal })
    controller.abort()
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' })
    await expect(client.request('echo', {}, { signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' })
    held.open()
    expect(await client.request('echo', { b: 2 })).toEqual({ body: { b: 2 } })
  })

  it('send() consumes the reply and emits a failure as error', async () => {
    const client = await open()
    const error = clientEvent(client, 'error')
    client.send('strict', { n: 'nope' })
    expect(await error).toMatchObject({ code: 'VALIDATION_FAILED' })
    client.send('echo', { c: 3 })
    expect(await client.request('echo', { d: 4 })).toEqual({ body: { d: 4 } })
  })

  it('keeps the envelope fields when the payload has keys named route, command or ref', async () => {
    const client = await open()
    expect(await client.request('echo', { route: 'x', command: 'y', ref: 'z', keep: true })).toEqual({ body: { keep: true } })
  })

  it('once() hears one push, off() stops a handler', async () => {
    const client1 = await open('?user=a')
    const client2 = await open('?user=b')
    await client1.request('document/create', { id: 'd' })
    await client2.request('document/get', { id: 'd' })
    const onceSeen: unknown[] = []
    const all: unknown[] = []
    const removed: unknown[] = []
    const drop = (payload: unknown) => removed.push(payload)
    client2.once('node/create', (p) => onceSeen.push(p.id))
    client2.on('node:create', (p) => all.push(p.id))
    client2.on('node:create', drop)
    client2.off('node/create', drop)
    await client1.request('node/create', { type: 't', data: 1 })
    await client1.request('node/create', { type: 't', data: 2 })
    // client1's replies do not order client2's pushes: wait for the second one.
    await until(client2, ['node:create'], () => all.length === 2)
    expect(onceSeen).toEqual([1])
    expect(all).toEqual([1, 2])
    expect(removed).toEqual([])
  })

  it('queues requests made before the welcome and sends them once connected', async () => {
    const client = createClient(server.url, { heartbeat: false })
    clients.push(client)
    const early = client.request('echo', { early: true })
    expect(client.connected).toBe(false)
    expect(await early).toEqual({ body: { early: true } })
    expect(client.connected).toBe(true)
  })

  it('rejects connect() with DISCONNECTED when the first connection fails', async () => {
    const refused = await connect('ws://127.0.0.1:1', { heartbeat: false }).catch((err: unknown) => err)
    expect(refused).toBeInstanceOf(TalkError)
    expect(refused).toMatchObject({ code: 'DISCONNECTED', message: 'Could not connect to ws://127.0.0.1:1' })
  })

  it('close() rejects what is in flight with DISCONNECTED and the server sees a goodbye', async () => {
    const client = await open()
    const inFlight = client.request('slow').catch((err: unknown) => err)
    const gone = appEvent(app, 'disconnect')
    const closed = clientEvent(client, 'close')
    await client.close()
    expect(await inFlight).toMatchObject({ code: 'DISCONNECTED', message: 'The client was closed' })
    expect(await closed).toEqual({ code: 1000, reason: '', willReconnect: false })
    const [, code] = await gone
    expect(code).toBe(1000)
    await expect(client.request('echo')).rejects.toMatchObject({ code: 'DISCONNECTED', message: 'The client is closed' })
  })

  it('answers the built-in talk/ping before any middleware, on the raw protocol', async () => {
    app.use(() => {
      throw new TalkError('FORBIDDEN', 'nothing passes')
    })
    const raw = await server.client()
    expect(await raw.request('talk/ping', { seen: 0, done: 0 })).toEqual({ status: 'success', ref: 1 })
    expect(await raw.request('echo')).toEqual({ status: 'error', ref: 2, error: { code: 'FORBIDDEN', message: 'nothing passes' } })
    expect(await raw.request('talk:ping', {}, { ref: 'p' })).toEqual({ status: 'success', ref: 'p' })
  })

  it('testServer().talkClient() hands app authors a connected TalkClient, closed with the server', async () => {
    const a = await server.talkClient({ query: 'user=a' })
    const b = await server.talkClient({ query: 'user=b' })
    await a.request('document/create', { id: 'harness' })
    expect(await b.request('document/get', { id: 'harness' })).toEqual({
      document: { id: 'harness', nodes: [] }, 'active-users': ['a', 'b'],
    })
  })

  it('checks its options once, at construction', () => {
    expect(() => createClient(server.url, { timeout: -1 })).toThrow(TypeError)
    expect(() => createClient(server.url, { reconnect: { initialDelay: 0 } })).toThrow(TypeError)
    expect(() => createClient(server.url, { heartbeat: { interval: Number.NaN } })).toThrow(TypeError)
    expect(() => createClient(server.url, { onReconnect: 'x' as unknown as () => void })).toThrow(TypeError)
  })
})
