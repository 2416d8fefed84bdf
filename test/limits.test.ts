import WebSocket from 'ws'
import { talk, CLOSE } from '../index'
import { testServer, type TestServer } from '../lib/testing'
import { silent } from './helpers/seed-app'
import { gate } from './helpers/gate'

describe('connection limits', () => {
  let server: TestServer
  afterEach(() => server.close())

  it('terminates a peer that stops answering pings, and keeps one that answers', async () => {
    const app = talk({ logger: silent, heartbeatInterval: 40 })
    app.route('ping', () => ({ pong: true }))
    server = await testServer(app)
    const live = await server.client()
    const dead = new WebSocket(server.url, { autoPong: false })
    const deadClosed = new Promise<number>((resolve) => dead.once('close', (code) => resolve(code)))
    expect(await deadClosed).toBe(1006)
    let pings = 0
    await new Promise<void>((resolve) => live.socket.on('ping', () => ++pings === 3 && resolve()))
    expect(await live.request('ping')).toEqual({ status: 'success', ref: 1, pong: true })
    expect(server.app.clients.size).toBe(1)
  })

  it('closes a client that stops reading once its unsent data passes the bound (4900)', async () => {
    const app = talk({ logger: silent, maxBufferedBytes: 256 * 1024 })
    app.route('flood', (ctx) => {
      const chunk = 'x'.repeat(64 * 1024)
      for (let i = 0; i < 200; i++) ctx.send('chunk', { chunk })
    })
    app.route('ping', () => ({ pong: true }))
    server = await testServer(app)
    const [slow, other] = await server.clients(2)
    // Stop reading: pause the TCP socket under the client so the server's writes back up.
    ;(slow!.socket as unknown as { _socket: { pause(): void } })._socket.pause()
    slow!.socket.send(JSON.stringify({ command: 'flood' }))
    const closed = new Promise<void>((resolve) => server.app.on('disconnect', (_c, code) => code === CLOSE.SLOW_CONSUMER && resolve()))
    await closed
    slow!.socket.terminate()
    expect(await other!.request('ping')).toEqual({ status: 'success', ref: 1, pong: true })
    expect(server.app.clients.size).toBe(1)
  })

  it('answers RATE_LIMITED past the request queue bound and keeps serving', async () => {
    const app = talk({ logger: silent, maxQueue: 2 })
    const held = gate()
    app.route('wait', async () => {
      await held.wait
      return { waited: true }
    })
    app.route('ping', () => ({ pong: true }))
    server = await testServer(app)
    const c = await server.client()
    const running = c.request('wait')
    const queued = [c.request('ping'), c.request('ping')]
    const refused = c.request('ping')
    // The heartbeat is answered at once: every request before it has arrived.
    await c.request('talk/ping', {}, { ref: 'arrived' })
    held.open()
    expect(await running).toEqual({ status: 'success', ref: 1, waited: true })
    expect(await Promise.all(queued)).toEqual([{ status: 'success', ref: 2, pong: true }, { status: 'success', ref: 3, pong: true }])
    // The refusal keeps its place in the reply order, after the replies before it.
    expect(await refused).toEqual({ status: 'error', ref: 4, error: { code: 'RATE_LIMITED', message: 'Too many requests waiting on this connection' } })
    expect(await c.request('ping')).toEqual({ status: 'success', ref: 5, pong: true })
  })

  it('refuses bad options at start-up with a TypeError', () => {
    expect(() => talk({ maxPayload: -1 })).toThrow(TypeError)
    expect(() => talk({ concurrency: 0 })).toThrow(TypeError)
    expect(() => talk({ heartbeatInterval: Number.NaN })).toThrow(TypeError)
  })
})
