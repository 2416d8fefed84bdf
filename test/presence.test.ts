import { talk, type TalkApp } from '../index'
import { testServer, type TestServer } from '../lib/testing'
import { silent } from './helpers/seed-app'

function roomApp(options: { presenceEvents?: boolean } = {}): TalkApp {
  const app = talk({ logger: silent, ...options })
  app.handshake((hs) => {
    hs.user = { name: hs.query.user ?? 'anon' }
  })
  app.route('join', (ctx) => {
    ctx.join(String(ctx.body.room))
  })
  app.route('leave', (ctx) => {
    ctx.leave(String(ctx.body.room))
  })
  app.route('who', async (ctx) => ({ members: (await ctx.presence(String(ctx.body.room))).map((m) => m.user?.name).sort() }))
  app.route('say', (ctx) => {
    ctx.to(String(ctx.body.room)).send('said', { text: ctx.body.text }, { includeSelf: ctx.body.self === true })
  })
  app.route('shout', (ctx) => {
    ctx.broadcast('shouted', { text: ctx.body.text })
  })
  return app
}

describe('rooms and presence on one node', () => {
  let server: TestServer
  afterEach(() => server.close())

  it('pushes to the others in a room, the sender excluded unless it asks', async () => {
    server = await testServer(roomApp())
    const [a, b, outsider] = await Promise.all(['a', 'b', 'c'].map((u) => server.client({ query: `user=${u}` })))
    await a!.request('join', { room: 'r' })
    await b!.request('join', { room: 'r' })
    expect(await a!.request('say', { room: 'r', text: 'hi' })).toEqual({ status: 'success', ref: 2 })
    expect(await b!.nextPush()).toEqual({ command: 'said', text: 'hi' })
    await a!.request('say', { room: 'r', text: 'me too', self: true })
    expect(await a!.nextPush()).toEqual({ command: 'said', text: 'me too' })
    expect(await b!.nextPush()).toEqual({ command: 'said', text: 'me too' })
    expect(outsider!.pendingPushes).toEqual([])
  })

  it('broadcasts to every room of the sender, each member once', async () => {
    server = await testServer(roomApp())
    const [a, b] = await server.clients(2)
    for (const room of ['r1', 'r2']) {
      await a!.request('join', { room })
      await b!.request('join', { room })
    }
    await a!.request('shout', { text: 'once' })
    await b!.request('who', { room: 'r1' }) // a round trip: any duplicate push would have arrived before this reply
    expect(b!.pendingPushes).toEqual([{ command: 'shouted', text: 'once' }])
  })

  it('lists members, and drops clients from every room when they leave or disconnect', async () => {
    server = await testServer(roomApp())
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((u) => server.client({ query: `user=${u}` })))
    for (const client of [a!, b!, c!]) await client.request('join', { room: 'doc' })
    await a!.request('join', { room: 'other' })
    expect(await a!.request('who', { room: 'doc' })).toEqual({ status: 'success', ref: 3, members: ['a', 'b', 'c'] })
    await b!.request('leave', { room: 'doc' })
    await c!.close()
    expect(await a!.request('who', { room: 'doc' })).toEqual({ status: 'success', ref: 4, members: ['a'] })
    await a!.close()
    const d = await server.client({ query: 'user=d' })
    expect(await d.request('who', { room: 'other' })).toEqual({ status: 'success', ref: 1, members: [] })
    expect([...server.app.rooms.names()]).toEqual([])
  })

  it('pushes presence:join and presence:leave to the room when presenceEvents is on', async () => {
    server = await testServer(roomApp({ presenceEvents: true }))
    const a = await server.client({ query: 'user=a' })
    const b = await server.client({ query: 'user=b' })
    await a.request('join', { room: 'doc' })
    await b.request('join', { room: 'doc' })
    expect(await a.nextPush()).toEqual({ command: 'presence:join', room: 'doc', client: b.id, user: { name: 'b' } })
    await b.close()
    expect(await a.nextPush()).toEqual({ command: 'presence:leave', room: 'doc', client: b.id, user: { name: 'b' } })
  })

  it('emits connection, join, leave and disconnect events, and survives a throwing listener', async () => {
    const app = roomApp()
    const events: string[] = []
    app.on('connection', (c) => void events.push(`connection ${c.user?.name}`))
    app.on('join', (c, room) => void events.push(`join ${c.user?.name} ${room}`))
    app.on('leave', (c, room) => void events.push(`leave ${c.user?.name} ${room}`))
    app.on('disconnect', (c, code) => void events.push(`disconnect ${c.user?.name} ${code}`))
    app.on('join', () => {
      throw new Error('listener bug')
    })
    server = await testServer(app)
    const a = await server.client({ query: 'user=a' })
    expect(await a.request('join', { room: 'x' })).toEqual({ status: 'success', ref: 1 })
    const disconnected = new Promise((resolve) => app.on('disconnect', resolve))
    await a.close(1000)
    await disconnected
    expect(events).toEqual(['connection a', 'join a x', 'leave a x', 'disconnect a 1000'])
  })
})
