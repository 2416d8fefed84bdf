import { createServer, type Server, type Socket } from 'node:net'
import WebSocket from 'ws'
import { CLOSE, type TalkApp } from '../../index'
import type { Session } from '../../lib/resume'
import { connect, TalkClient, type SocketLike } from '../../lib/client'
import type { Connection } from '../../lib/connection'
import { testServer, type TestServer } from '../../lib/testing'
import { seedApp } from '../helpers/seed-app'
import { clientEvent, collect, proxy, until, type Proxy } from './helpers'

describe('dead-connection detection', () => {
  let server: TestServer
  let app: TalkApp
  let relay: Proxy | undefined
  const clients: TalkClient[] = []
  beforeEach(async () => {
    app = seedApp({ resume: true, closeTimeout: 100 })
    server = await testServer(app)
  })
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await server.close()
    await relay?.close()
    relay = undefined
  })

  it('notices a silent link by its heartbeat, reconnects, and takes over its session with every push', async () => {
    relay = await proxy(server.port)
    const sender = await connect(`${server.url}?user=sender`, { heartbeat: false })
    const receiver = await connect(`${relay.url}?user=receiver`, {
      heartbeat: { interval: 50, timeout: 150 },
      reconnect: { initialDelay: 5, maxDelay: 20 },
    })
    clients.push(sender, receiver)
    await sender.request('document/create', { id: 'd' })
    await receiver.request('document/get', { id: 'd' })
    const id = receiver.id
    const nodes = collect(receiver, 'node:create')
    const closed = clientEvent(receiver, 'close')
    const reconnected = clientEvent(receiver, 'reconnected')

    // The network goes silent: no FIN, no RST. The server still thinks the receiver is there.
    relay.blackhole()
    for (let i = 1; i <= 5; i++) await sender.request('node/create', { type: 'task', data: i })
    expect(app.clients.has(String(id))).toBe(true)

    expect(await closed).toEqual({ code: 1006, reason: 'heartbeat timeout', willReconnect: true })
    expect(await reconnected).toEqual({ client: id, resumed: true })
    await until(receiver, ['node:create'], () => nodes.length >= 5)
    expect(nodes.map((n) => n.data)).toEqual([1, 2, 3, 4, 5])
    expect([...app.clients.keys()].sort()).toEqual([sender.id, id].sort())
    expect(await receiver.request('document/get', { id: 'd' })).toMatchObject({ 'active-users': ['receiver', 'sender'] })
  })

  it('a client that cannot cut TCP (a browser) closes a silent socket with 4901, and the server parks its session', async () => {
    const receiver = await new TalkClient(`${server.url}?user=browser`, (target) => {
      const socket = new WebSocket(target)
      // A browser's WebSocket has no terminate(): the client can only send a close frame.
      Object.defineProperty(socket, 'terminate', { value: undefined })
      return socket as unknown as SocketLike
    }, { heartbeat: { interval: 30, timeout: 60 }, reconnect: false }).opened()
    clients.push(receiver)
    await receiver.request('document/create', { id: 'b' })
    const connection = app.clients.get(String(receiver.id)) as Connection
    const serverClosed = new Promise<number>((resolve) => connection.socket.once('close', (code: number) => resolve(code)))
    // The server stops reading: heartbeats go unanswered until the client gives up on the socket.
    connection.socket.pause()
    await clientEvent(receiver, 'close')
    connection.socket.resume()
    expect(await serverClosed).toBe(CLOSE.WILL_RESUME)
    expect(app.sessions?.parked).toBe(1)
    expect(await app.presence('document/b')).toEqual([{ id: receiver.id, user: { name: 'browser' } }])
  })

  it('forgets pushes and replies the client acknowledges in its pings', async () => {
    const raw = await server.client({ query: 'user=acks' })
    await raw.request('document/create', { id: 'acks' })
    for (let i = 1; i <= 3; i++) app.to('document/acks').send('note', { i })
    for (let i = 1; i <= 3; i++) expect(await raw.nextPush()).toEqual({ command: 'note', i })
    const session = (app.clients.get(raw.id) as Connection).session as Session
    expect(session?.logged).toBe(3)
    expect(session?.bytes).toBeGreaterThan(0)
    expect(await raw.request('talk/ping', { seen: 2, done: 0 })).toEqual({ status: 'success', ref: 2 })
    expect(session?.logged).toBe(1)
    expect(await raw.request('talk/ping', { seen: 3, done: 2 })).toEqual({ status: 'success', ref: 3 })
    expect(session?.logged).toBe(0)
    expect(session?.bytes).toBe(0)
  })

  it('gives up on a connection attempt that gets no welcome within connectTimeout', async () => {
    const sockets: Socket[] = []
    const mute: Server = createServer((socket) => void sockets.push(socket))
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', () => resolve()))
    const address = mute.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0
    try {
      const failed = await connect(`ws://127.0.0.1:${port}`, { connectTimeout: 50, heartbeat: false }).catch((err: unknown) => err)
      expect(failed).toMatchObject({ code: 'DISCONNECTED', message: `Could not connect to ws://127.0.0.1:${port}` })
    } finally {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => mute.close(() => resolve()))
    }
  })

  // What the browser client does on offline, online and visibility, through the same calls.
  describe('following the network', () => {
    it('probe() notices a silent link at once, without waiting for the heartbeat', async () => {
      relay = await proxy(server.port)
      // A heartbeat this slow would take a minute; the probe takes its own timeout.
      const client = await connect(`${relay.url}?user=ann`, { heartbeat: { interval: 60_000, timeout: 60_000 }, reconnect: { initialDelay: 5, maxDelay: 20 } })
      clients.push(client)
      const closed = clientEvent(client, 'close')
      relay.blackhole()
      client.probe(50)
      expect(await closed).toEqual({ code: 1006, reason: 'no answer to a probe', willReconnect: true })
    })

    it('probe() on a live link changes nothing', async () => {
      const client = await connect(`${server.url}?user=ann`, { heartbeat: false })
      clients.push(client)
      let closes = 0
      client.on('close', () => closes++)
      client.probe(50)
      // A request after the probe's deadline shows the link stayed up.
      await new Promise((resolve) => setTimeout(resolve, 80))
      expect(await client.request('document/create', { id: 'still-up' })).toEqual({})
      expect(closes).toBe(0)
    })

    it('networkLost() counts the connection lost at once and waits for networkBack() to reconnect, resumed', async () => {
      const client = await connect(`${server.url}?user=ann`, { heartbeat: false, reconnect: { initialDelay: 5, maxDelay: 20 } })
      clients.push(client)
      const id = client.id
      const closed = clientEvent(client, 'close')
      let reconnecting = 0
      client.on('reconnecting', () => reconnecting++)
      client.networkLost()
      expect(await closed).toEqual({ code: 1006, reason: 'network offline', willReconnect: true })
      expect(client.connected).toBe(false)
      // Requests made offline wait in the queue.
      const queued = client.request('document/create', { id: 'made-offline' })
      const back = clientEvent(client, 'reconnected')
      client.networkBack()
      expect(await back).toEqual({ client: id, resumed: true })
      expect(await queued).toEqual({})
      expect(reconnecting).toBe(0)
    })
  })
})
