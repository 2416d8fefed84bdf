import { request } from 'node:http'
import WebSocket from 'ws'
import { talk, TalkError, type TalkApp } from '../index'
import { testServer, type TestServer } from '../lib/testing'
import { silent } from './helpers/seed-app'
import { gate } from './helpers/gate'

/** Sends a raw upgrade request and resolves with the HTTP status and body the server answered with. */
function upgradeStatus(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; upgraded: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request({
      port, host: '127.0.0.1', path,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    })
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      resolve({ status: res.statusCode ?? 0, body: '', upgraded: true })
    })
    req.on('response', (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => (body += chunk.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, upgraded: false }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('the handshake', () => {
  let server: TestServer
  let app: TalkApp
  beforeEach(() => {
    app = talk({ logger: silent })
    app.route('whoami', (ctx) => ({ user: ctx.client.user, state: ctx.state, ip: ctx.client.handshake.ip }))
  })
  afterEach(() => server.close())

  it('refuses with HTTP 401 before any socket opens when a hook throws UNAUTHORIZED', async () => {
    let connections = 0
    app.on('connection', () => void connections++)
    app.handshake((hs) => {
      if (hs.headers.authorization !== 'Bearer good') throw new TalkError('UNAUTHORIZED', 'Missing or bad token')
    })
    server = await testServer(app)
    expect(await upgradeStatus(server.port, '/')).toEqual({
      status: 401, upgraded: false,
      body: JSON.stringify({ status: 'error', error: { code: 'UNAUTHORIZED', message: 'Missing or bad token' } }),
    })
    await expect(server.client()).rejects.toThrow('HTTP 401')
    const ok = await server.client({ headers: { Authorization: 'Bearer good' } })
    expect(await ok.request('whoami')).toEqual({ status: 'success', ref: 1, state: {}, ip: '127.0.0.1' })
    expect(connections).toBe(1)
  })

  it('maps other codes to their HTTP status and an unexpected hook error to 500 without internals', async () => {
    app.handshake((hs) => {
      if (hs.query.mode === 'forbidden') throw new TalkError('FORBIDDEN', 'Not here')
      if (hs.query.mode === 'crash') throw new Error('secret detail')
    })
    server = await testServer(app)
    expect((await upgradeStatus(server.port, '/?mode=forbidden')).status).toBe(403)
    const crash = await upgradeStatus(server.port, '/?mode=crash')
    expect(crash).toEqual({ status: 500, upgraded: false, body: JSON.stringify({ status: 'error', error: { code: 'INTERNAL', message: 'Internal server error' } }) })
    expect((await upgradeStatus(server.port, '/?mode=fine')).upgraded).toBe(true)
  })

  it('lets async hooks read headers, query and cookies and set the user and initial state', async () => {
    app.handshake(async (hs) => {
      await new Promise((resolve) => setImmediate(resolve))
      hs.user = { name: hs.query.user, session: hs.cookies.sid }
      hs.state.theme = hs.headers['x-theme']
    })
    server = await testServer(app)
    const c = await server.client({ query: 'user=ada', headers: { Cookie: 'sid=s%201; other=x', 'X-Theme': 'dark' } })
    expect(await c.request('whoami')).toEqual({ status: 'success', ref: 1, user: { name: 'ada', session: 's 1' }, state: { theme: 'dark' }, ip: '127.0.0.1' })
  })

  it('runs hooks in order whether they wait or not, and stops at the one that refuses', async () => {
    const ran: string[] = []
    app.handshake((hs) => void ran.push(`a ${hs.query.n}`))
    app.handshake(async (hs) => {
      await new Promise((resolve) => setImmediate(resolve))
      ran.push(`b ${hs.query.n}`)
    })
    app.handshake((hs) => {
      ran.push(`c ${hs.query.n}`)
      if (hs.query.refuse === 'c') throw new TalkError('FORBIDDEN', 'Not you')
    })
    app.handshake((hs) => {
      ran.push(`d ${hs.query.n}`)
      hs.state.order = ran.filter((step) => step.endsWith(` ${hs.query.n}`)).join(',')
    })
    server = await testServer(app)
    const c = await server.client({ query: 'n=1' })
    expect(await c.request('whoami')).toEqual({ status: 'success', ref: 1, state: { order: 'a 1,b 1,c 1,d 1' }, ip: '127.0.0.1' })
    expect(await upgradeStatus(server.port, '/?n=2&refuse=c')).toEqual({
      status: 403, upgraded: false, body: JSON.stringify({ status: 'error', error: { code: 'FORBIDDEN', message: 'Not you' } }),
    })
    expect(ran).toEqual(['a 1', 'b 1', 'c 1', 'd 1', 'a 2', 'b 2', 'c 2'])
  })

  it('treats a malformed Cookie header as no cookies', async () => {
    app.handshake((hs) => {
      hs.user = { cookies: Object.keys(hs.cookies).length }
    })
    server = await testServer(app)
    const c = await server.client({ headers: { Cookie: '%%%;;==' } })
    expect((await c.request('whoami')).user).toEqual({ cookies: expect.any(Number) })
  })

  it('sends the welcome first, with the client id and protocol version', async () => {
    server = await testServer(app)
    const c = await server.client()
    expect(c.welcome).toEqual({ command: 'welcome', client: expect.any(String), protocol: 1 })
    const other = await server.client()
    expect(other.id).not.toBe(c.id)
  })

  it('answers plain HTTP on a listen() port with 426', async () => {
    server = await testServer(app)
    const res = await fetch(`http://127.0.0.1:${server.port}/`)
    expect(res.status).toBe(426)
    expect(await res.json()).toEqual({ status: 'error', error: { code: 'BAD_REQUEST', message: 'This is a WebSocket endpoint' } })
  })

  it('keeps the peer address for disconnect and leave listeners, however the client goes', async () => {
    const seen: string[] = []
    app.route('enter', (ctx) => void ctx.join('hall'))
    app.on('leave', (client, room) => void seen.push(`leave ${room} ${client.handshake.ip}`))
    const disconnects = gate()
    app.on('disconnect', (client, code) => {
      seen.push(`disconnect ${code} ${client.handshake.ip}`)
      if (seen.length === 3) disconnects.open()
    })
    server = await testServer(app)
    const polite = await server.client()
    const abrupt = await server.client()
    expect(await abrupt.request('enter')).toEqual({ status: 'success', ref: 1 })
    await polite.close()
    abrupt.socket.terminate()
    await disconnects.wait
    expect(seen.sort()).toEqual(['disconnect 1000 127.0.0.1', 'disconnect 1006 127.0.0.1', 'leave hall 127.0.0.1'])
  })

  it('does not crash when the peer vanishes during a slow hook', async () => {
    const held = gate()
    const entered = gate()
    app.handshake(async () => {
      entered.open()
      await held.wait
    })
    server = await testServer(app)
    const ws = new WebSocket(server.url)
    ws.on('error', () => undefined)
    await entered.wait
    ws.terminate()
    held.open()
    const c = await server.client()
    expect(await c.request('whoami')).toEqual({ status: 'success', ref: 1, state: {}, ip: '127.0.0.1' })
  })
})
