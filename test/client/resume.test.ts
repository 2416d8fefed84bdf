import type { TalkApp, TalkOptions } from '../../index'
import { connect, type ClientOptions, type TalkClient } from '../../lib/client'
import type { Socket } from 'node:net'
import { CLOSE } from '../../index'
import type { Connection } from '../../lib/connection'
import { testServer, type TestClient, type TestServer } from '../../lib/testing'
import { seedApp } from '../helpers/seed-app'
import { appEvent, clientEvent, collect, proxy, until, type Proxy } from './helpers'
import { gate } from '../helpers/gate'

const FAST: ClientOptions = { heartbeat: false, reconnect: { initialDelay: 5, maxDelay: 20 } }

/** Cuts a client's socket on the server side, like a dropped network, and waits until the server has handled it. */
async function cut(app: TalkApp, id: string | undefined): Promise<void> {
  const connection = app.clients.get(String(id)) as Connection
  const closed = new Promise((resolve) => connection.socket.once('close', resolve))
  connection.socket.terminate()
  await closed
}

describe('resume', () => {
  let server: TestServer
  let app: TalkApp
  let relay: Proxy | undefined
  const clients: TalkClient[] = []
  const start = async (options: TalkOptions = {}) => {
    app = seedApp({ resume: true, closeTimeout: 200, ...options })
    server = await testServer(app)
  }
  const open = async (user: string, options: ClientOptions = {}, url = server.url) => {
    const client = await connect(`${url}?user=${user}`, { ...FAST, ...options })
    clients.push(client)
    return client
  }
  /** Two clients with document `d` open, the seed conversation's starting point. */
  const pair = async (options: ClientOptions = {}) => {
    const sender = await open('sender')
    const receiver = await open('receiver', options, relay?.url ?? server.url)
    await sender.request('document/create', { id: 'd' })
    await receiver.request('document/get', { id: 'd' })
    return { sender, receiver }
  }

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await server.close()
    await relay?.close()
    relay = undefined
  })

  it('sends a resume token in the welcome frame when resume is on', async () => {
    await start()
    const raw = await server.client()
    expect(raw.welcome).toEqual({ command: 'welcome', client: expect.any(String), protocol: 1, resume: expect.any(String) })
  })

  it('after a cut during a broadcast, the client has every push once, in order, with the same id, rooms and state', async () => {
    await start()
    const { sender, receiver } = await pair()
    const id = receiver.id
    const nodes = collect(receiver, 'node:create')
    const reconnected = clientEvent(receiver, 'reconnected')
    const total = 200
    let cutting: Promise<void> | undefined
    app.use(async (ctx, next) => {
      await next()
      // Cut in the middle of the broadcast, on the server: pushes written this turn but not yet
      // flushed are lost in flight, and the next ones find the socket gone.
      if (ctx.route === 'node/create' && ctx.body.data === 40) cutting = cut(app, id)
    })
    const created = Array.from({ length: total }, (_, i) => sender.request('node/create', { type: 'task', data: i }))
    await Promise.all(created)
    expect(await reconnected).toEqual({ client: id, resumed: true })
    await cutting
    await until(receiver, ['node:create'], () => nodes.length >= total)
    expect(nodes.map((n) => n.data)).toEqual(Array.from({ length: total }, (_, i) => i))
    expect(receiver.id).toBe(id)
    // Rooms and state came back: the receiver's own node:create goes to its document and reaches the sender.
    const heard = new Promise((resolve) => sender.once('node:create', resolve))
    expect(await receiver.request('node/create', { type: 'task', data: 'back' })).toEqual({ node: { id: total + 1, type: 'task', data: 'back' } })
    expect(await heard).toEqual({ id: total + 1, type: 'task', data: 'back' })
    expect((await app.presence('document/d')).map((m) => m.id).sort()).toEqual([sender.id, id].sort())
  })

  it('keeps a parked client in its rooms and logs what it misses; no disconnect until the window ends', async () => {
    await start()
    const { sender, receiver } = await pair({ reconnect: false })
    const id = String(receiver.id)
    const disconnects: string[] = []
    app.on('disconnect', (client) => void disconnects.push(client.id))
    await cut(app, id)
    expect(app.sessions?.parked).toBe(1)
    expect((await app.presence('document/d')).map((m) => m.id).sort()).toEqual([sender.id, id].sort())
    await sender.request('node/create', { type: 'task', data: 'while away' })
    expect(app.sessions?.parkedBytes).toBeGreaterThan(0)
    expect(disconnects).toEqual([])
  })

  it.each([
    ['no code (1005, a browser\'s ws.close())', undefined],
    ['1000', 1000],
    ['1001 (a tab closing)', 1001],
    ['1011', 1011],
    ['an app code (4321)', 4321],
  ])('a close frame with %s is a goodbye: the session ends and the others see it leave at once', async (_label, code) => {
    await start({ presenceEvents: true })
    const stays = await server.client({ query: 'user=stays' })
    const goes = await server.client({ query: 'user=goes' })
    await stays.request('document/create', { id: 'tab' })
    await goes.request('document/get', { id: 'tab' })
    expect(await stays.nextPush()).toEqual({ command: 'presence:join', room: 'document/tab', client: goes.id, user: { name: 'goes' } })
    const gone = appEvent(app, 'disconnect')
    goes.socket.close(code)
    const [client, closeCode] = await gone
    expect([client.id, closeCode]).toEqual([goes.id, code ?? 1005])
    // No resume window, no grace: the push arrives now, and the session is not parked.
    expect(await stays.nextPush()).toEqual({ command: 'presence:leave', room: 'document/tab', client: goes.id, user: { name: 'goes' } })
    expect(await app.presence('document/tab')).toEqual([{ id: stays.id, user: { name: 'stays' } }])
    expect(app.sessions?.parked).toBe(0)
    const again = await server.client({ query: `user=goes&talk-resume=${String(goes.welcome.resume)}&talk-seen=0` })
    expect(again.welcome.resumed).toBe(false)
  })

  it.each([
    ['the TCP connection is destroyed (1006, no close frame)', (raw: TestClient) => (raw.socket as unknown as { _socket: Socket })._socket.destroy()],
    ['the Talk client closes to resume (4901)', (raw: TestClient) => raw.socket.close(CLOSE.WILL_RESUME, 'heartbeat timeout')],
  ])('parks the session when %s, and it resumes with its rooms', async (_label, drop) => {
    await start({ presenceEvents: true })
    const stays = await server.client({ query: 'user=stays' })
    const away = await server.client({ query: 'user=away' })
    await stays.request('document/create', { id: 'net' })
    await away.request('document/get', { id: 'net' })
    await stays.nextPush() // presence:join
    const closed = new Promise((resolve) => (app.clients.get(away.id) as Connection).socket.once('close', resolve))
    drop(away)
    await closed
    expect(app.sessions?.parked).toBe(1)
    expect((await app.presence('document/net')).map((m) => m.id).sort()).toEqual([stays.id, away.id].sort())
    await stays.request('node/create', { type: 'task', data: 'while away' })
    const back = await server.client({ query: `user=away&talk-resume=${String(away.welcome.resume)}&talk-seen=0` })
    expect(back.welcome).toEqual({ command: 'welcome', client: away.id, protocol: 1, resume: expect.any(String), resumed: true })
    expect(await back.nextPush()).toEqual({ command: 'node:create', id: 1, type: 'task', data: 'while away' })
    // Back within the grace: the others saw no leave and no join.
    expect(await stays.request('document/get', { id: 'net' })).toMatchObject({ 'active-users': ['away', 'stays'] })
    expect(stays.pendingPushes).toEqual([])
  })

  it('a parked session leaves presence after its grace, stays resumable, and joins again when it resumes', async () => {
    await start({ presenceEvents: true, resume: { presenceGrace: 50 } })
    const stays = await server.client({ query: 'user=stays' })
    const away = await server.client({ query: 'user=away' })
    await stays.request('document/create', { id: 'g' })
    await away.request('document/get', { id: 'g' })
    await stays.nextPush() // presence:join
    const events: string[] = []
    app.on('join', (client, room) => void events.push(`join ${client.id === away.id ? 'away' : 'other'} ${room}`))
    app.on('leave', (client, room) => void events.push(`leave ${client.id === away.id ? 'away' : 'other'} ${room}`))
    const left = appEvent(app, 'leave')
    await cut(app, away.id)
    expect(events).toEqual([]) // parked, still listed during the grace
    await left
    expect(await stays.nextPush()).toEqual({ command: 'presence:leave', room: 'document/g', client: away.id, user: { name: 'away' } })
    expect(await app.presence('document/g')).toEqual([{ id: stays.id, user: { name: 'stays' } }])
    expect(app.sessions?.parked).toBe(1)
    // Still in its room for pushes: they are logged for the resume.
    await stays.request('node/create', { type: 'task', data: 'while gone' })
    const back = await server.client({ query: `user=away&talk-resume=${String(away.welcome.resume)}&talk-seen=0` })
    expect(back.welcome.resumed).toBe(true)
    expect(await back.nextPush()).toEqual({ command: 'node:create', id: 1, type: 'task', data: 'while gone' })
    expect(await stays.nextPush()).toEqual({ command: 'presence:join', room: 'document/g', client: away.id, user: { name: 'away' } })
    expect((await app.presence('document/g')).map((m) => m.id).sort()).toEqual([stays.id, away.id].sort())
    expect(events).toEqual(['leave away document/g', 'join away document/g'])
    // Ending it later takes it out once: one leave, not a second one for a member already gone.
    const gone = appEvent(app, 'disconnect')
    await back.close()
    await gone
    expect(await stays.nextPush()).toEqual({ command: 'presence:leave', room: 'document/g', client: away.id, user: { name: 'away' } })
    expect(events).toEqual(['leave away document/g', 'join away document/g', 'leave away document/g'])
  })

  it('a session that ends while away from presence leaves no second leave behind', async () => {
    await start({ resume: { presenceGrace: 20, window: 200 } })
    const raw = await server.client({ query: 'user=p' })
    await raw.request('document/create', { id: 'w' })
    const events: string[] = []
    app.on('leave', (_client, room) => void events.push(`leave ${room}`))
    const gone = appEvent(app, 'disconnect')
    await cut(app, raw.id)
    const [client, code] = await gone
    expect([client.id, code]).toEqual([raw.id, 1006])
    expect(events).toEqual(['leave document/w'])
    expect(await app.presence('document/w')).toEqual([])
  })

  it('past the window, resume fails cleanly: a new id, resumed false, onReconnect re-opens, queued requests follow it', async () => {
    await start({ resume: { window: 30 } })
    relay = await proxy(server.port)
    const restored: unknown[] = []
    let receiver: TalkClient | undefined
    const hook = async (info: unknown) => {
      restored.push(info)
      await receiver?.request('document/get', { id: 'd' })
    }
    const opened = await pair({ onReconnect: hook })
    receiver = opened.receiver
    const oldId = receiver.id
    const events: string[] = []
    receiver.on('close', (e) => events.push(`close ${e.code} ${String(e.willReconnect)}`))
    receiver.on('reconnected', (e) => events.push(`reconnected ${String(e.resumed)}`))
    relay.refuse = true
    const expired = appEvent(app, 'disconnect')
    const dropped = clientEvent(receiver, 'close')
    await cut(app, oldId)
    await dropped
    const [gone] = await expired
    expect(gone.id).toBe(oldId)
    expect(app.sessions?.parked).toBe(0)
    expect(await app.presence('document/d')).toEqual([{ id: opened.sender.id, user: { name: 'sender' } }])
    // Asked while disconnected: waits for the reconnection and for onReconnect to re-open the document.
    const queued = receiver.request('node/create', { type: 'task', data: 'queued' })
    const reconnected = clientEvent(receiver, 'reconnected')
    relay.refuse = false
    const info = await reconnected
    expect(info).toEqual({ client: expect.any(String), resumed: false })
    expect(info.client).not.toBe(oldId)
    expect(receiver.id).toBe(info.client)
    expect(await queued).toEqual({ node: { id: 1, type: 'task', data: 'queued' } })
    expect(restored).toEqual([info])
    expect(events).toEqual(['close 1006 true', 'reconnected false'])
  })

  it('runs a retried node:create once when its reply was lost: the retry is answered from the reply cache', async () => {
    await start()
    let cutOnce = false
    app.use(async (ctx, next) => {
      await next()
      // The reply is written but not yet flushed: cutting now loses it, after the handler ran.
      if (ctx.route === 'node/create' && !cutOnce) {
        cutOnce = true
        app.clients.get(ctx.client.id)?.socket.terminate()
      }
    })
    const { sender, receiver } = await pair()
    const reconnected = clientEvent(sender, 'reconnected')
    const reply = await sender.request('node/create', { type: '/type/task', data: { name: 'A new task' } })
    expect(await reconnected).toEqual({ client: sender.id, resumed: true })
    expect(reply).toEqual({ node: { id: 1, type: '/type/task', data: { name: 'A new task' } } })
    expect(await receiver.request('document/get', { id: 'd' })).toEqual({
      document: { id: 'd', nodes: [{ id: 1, type: '/type/task', data: { name: 'A new task' } }] },
      'active-users': ['receiver', 'sender'],
    })
  })

  it('a retry of a request still running or still queued waits for that one run', async () => {
    await start()
    const held = gate()
    const running = gate()
    const runs: string[] = []
    app.route('job/slow', async () => {
      runs.push('slow')
      running.open()
      await held.wait
      return { done: 'slow' }
    })
    app.route('job/quick', () => {
      runs.push('quick')
      return { done: 'quick' }
    })
    const client = await open('x')
    const slow = client.request('job/slow')
    const quick = client.request('job/quick') // waits behind job/slow: one request at a time per connection
    await running.wait
    const reconnected = clientEvent(client, 'reconnected')
    await cut(app, client.id)
    expect(await reconnected).toEqual({ client: client.id, resumed: true })
    held.open()
    expect(await slow).toEqual({ done: 'slow' })
    expect(await quick).toEqual({ done: 'quick' })
    expect(runs).toEqual(['slow', 'quick'])
  })

  it('refuses a retry whose reply was evicted from the cache rather than running it twice', async () => {
    await start({ resume: { maxReplies: 2 } })
    const runs: number[] = []
    app.route('count', (ctx) => {
      runs.push(Number(ctx.body.n))
      return { n: ctx.body.n }
    })
    const raw = await server.client()
    for (const n of [1, 2, 3]) expect(await raw.request('count', { n }, { ref: n })).toEqual({ status: 'success', ref: n, n })
    await cut(app, raw.id)
    const again = await server.client({ query: `talk-resume=${String(raw.welcome.resume)}&talk-seen=0` })
    expect(again.welcome.resumed).toBe(true)
    expect(await again.request('count', { n: 1 }, { ref: 1 })).toEqual({
      status: 'error', ref: 1, error: { code: 'CONFLICT', message: 'This request already ran; its reply is no longer kept' },
    })
    expect(await again.request('count', { n: 3 }, { ref: 3 })).toEqual({ status: 'success', ref: 3, n: 3 })
    expect(await again.request('count', { n: 4 }, { ref: 4 })).toEqual({ status: 'success', ref: 4, n: 4 })
    expect(runs).toEqual([1, 2, 3, 4])
  })

  it('refuses a resume for another user, an unknown token, or a push count it cannot honour', async () => {
    await start()
    const first = await server.client({ query: 'user=alice' })
    const token = String(first.welcome.resume)
    await first.request('document/create', { id: 'a' })
    await cut(app, first.id)
    const other = await server.client({ query: `user=mallory&talk-resume=${token}&talk-seen=0` })
    expect(other.welcome).toEqual({ command: 'welcome', client: expect.any(String), protocol: 1, resume: expect.any(String), resumed: false })
    expect(other.id).not.toBe(first.id)
    // The refused claim ended the session: the token is spent.
    const late = await server.client({ query: `user=alice&talk-resume=${token}&talk-seen=0` })
    expect(late.welcome.resumed).toBe(false)
    const unknown = await server.client({ query: 'user=alice&talk-resume=nope&talk-seen=0' })
    expect(unknown.welcome.resumed).toBe(false)

    const second = await server.client({ query: 'user=bob' })
    await cut(app, second.id)
    const ahead = await server.client({ query: `user=bob&talk-resume=${String(second.welcome.resume)}&talk-seen=5` })
    expect(ahead.welcome.resumed).toBe(false)
    expect(await ahead.request('document/get', { id: 'a' })).toEqual({ status: 'success', ref: 1, document: { id: 'a', nodes: [] }, 'active-users': ['bob'] })
  })

  it('bounds parked memory: at most maxSessions parked, each log within maxPushes and maxBytes', async () => {
    await start({ resume: { maxSessions: 2, maxPushes: 5, maxBytes: 400 } })
    const raws = []
    let replyBytes = 0
    for (const user of ['p1', 'p2', 'p3']) {
      const raw = await server.client({ query: `user=${user}` })
      const reply = await raw.request(user === 'p1' ? 'document/create' : 'document/get', { id: 'room' })
      if (user !== 'p1') replyBytes += Buffer.byteLength(JSON.stringify(reply)) // kept for a retry
      raws.push(raw)
    }
    const evicted = appEvent(app, 'disconnect')
    for (const raw of raws) await cut(app, raw.id)
    const [gone] = await evicted
    expect(gone.id).toBe(raws[0]?.id)
    expect(app.sessions?.parked).toBe(2)
    const bytesOf = (id: number, text: string) => Buffer.byteLength(JSON.stringify({ command: 'node:create', id, text }))

    // Small pushes: the count bound holds each log at the last 5.
    for (let i = 1; i <= 20; i++) app.to('document/room').send('node:create', { id: i, text: 'x'.repeat(30) })
    expect(app.sessions?.parkedBytes).toBe(2 * 5 * bytesOf(20, 'x'.repeat(30)) + replyBytes)
    // Big pushes: the byte bound holds each log at the last one (two would pass 400 bytes).
    for (let i = 21; i <= 23; i++) app.to('document/room').send('node:create', { id: i, text: 'y'.repeat(300) })
    expect(app.sessions?.parkedBytes).toBe(2 * bytesOf(23, 'y'.repeat(300)) + replyBytes)

    // The evicted session is gone; the others resume only for a client that saw every dropped push.
    const [p1, p2, p3] = raws.map((r) => ({ token: String(r.welcome.resume), id: r.id }))
    const again1 = await server.client({ query: `user=p1&talk-resume=${p1!.token}&talk-seen=0` })
    expect(again1.welcome.resumed).toBe(false)
    const again2 = await server.client({ query: `user=p2&talk-resume=${p2!.token}&talk-seen=21` })
    expect(again2.welcome.resumed).toBe(false)
    const again3 = await server.client({ query: `user=p3&talk-resume=${p3!.token}&talk-seen=22` })
    expect(again3.welcome).toEqual({ command: 'welcome', client: p3!.id, protocol: 1, resume: expect.any(String), resumed: true })
    expect(await again3.nextPush()).toEqual({ command: 'node:create', id: 23, text: 'y'.repeat(300) })
    expect(again3.pendingPushes).toEqual([])
    expect(app.sessions?.parked).toBe(0)
  })

  it('checks its options at start-up', () => {
    expect(() => seedApp({ resume: { window: 0 } })).toThrow(TypeError)
    expect(() => seedApp({ resume: { maxBytes: -1 } })).toThrow(TypeError)
    expect(() => seedApp({ resume: { presenceGrace: -1 } })).toThrow(TypeError)
    expect(() => seedApp({ resume: 'yes' as unknown as boolean })).toThrow(TypeError)
  })

  it('ends parked sessions when the app closes', async () => {
    await start()
    const raw = await server.client()
    await raw.request('document/create', { id: 'z' })
    await cut(app, raw.id)
    const gone = appEvent(app, 'disconnect')
    await app.close()
    const [client] = await gone
    expect(client.id).toBe(raw.id)
    expect(app.sessions?.parked).toBe(0)
  })
})
