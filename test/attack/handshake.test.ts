// The attack suite, part 2: hostile upgrade requests. Each is refused with its HTTP status and JSON
// body before any socket opens (or served, when it is allowed), then the server serves others, its
// heap is back near the baseline and no log line holds the secret.
import { createServer, type Server } from 'node:http'
import type { Socket } from 'node:net'
import { CLOSE, talk, type TalkApp } from '../../index'
import { TestClient, TestServer, testServer } from '../../lib/testing'
import { heapAfterGc, hostileApp, LogCapture, SECRET, stillServes } from './harness'
import { closedSocket, rawHttp, tcp, upgradeRequest } from './raw'
import { gate } from '../helpers/gate'

const refusal = (code: string, message: string) => ({ status: 'error', error: { code, message } })

describe('attack: hostile handshakes', () => {
  let server: TestServer
  let capture: LogCapture
  let baseline: number

  beforeAll(async () => {
    capture = new LogCapture()
    const app = hostileApp(capture, {
      origins: ['https://app.example.com', 'https://*.example.org'],
      maxConnectionsPerIp: 40,
      handshakeTimeout: 200,
    })
    app.handshake(async (hs) => {
      // A hook that hangs for one query value: the handshake timeout must answer for it.
      if (hs.query.hang !== undefined) await new Promise(() => undefined)
    })
    server = await testServer(app)
    await stillServes(server)
    baseline = await heapAfterGc()
  })
  afterEach(() => stillServes(server))
  afterAll(async () => {
    const heap = await heapAfterGc()
    expect(heap - baseline).toBeLessThan(16 * 1024 * 1024)
    await server.close()
    expect(capture.text()).not.toContain(SECRET)
  })

  const upgrade = (headers: Record<string, string> = {}, path = '/') => rawHttp(server.port, upgradeRequest(server.port, { headers, path }))

  it('refuses a cross-origin page with 403 before the socket opens', async () => {
    const res = await upgrade({ Origin: 'https://evil.example' })
    expect(res.status).toBe(403)
    expect(JSON.parse(res.body)).toEqual(refusal('FORBIDDEN', 'Origin not allowed'))
  })

  it.each([
    ['a listed origin', 'https://app.example.com'],
    ['a listed origin with its default port spelled out', 'https://APP.example.com:443'],
    ['a subdomain of a wildcard entry', 'https://eu.app.example.org'],
  ])('accepts %s', async (_label, origin) => {
    const c = await server.client({ headers: { Origin: origin } })
    expect(await c.request('ping')).toEqual({ status: 'success', ref: 1, pong: true })
    await c.close()
  })

  it.each([
    ['the listed host on another port', 'https://app.example.com:8443'],
    ['the listed host over plain http', 'http://app.example.com'],
    ['a look-alike suffix', 'https://app.example.com.evil.example'],
    ['the bare wildcard domain', 'https://example.org'],
    ['an opaque origin (sandboxed frame, file://)', 'null'],
    ['a value that is not an origin', '💥'],
  ])('refuses %s with 403', async (_label, origin) => {
    const res = await upgrade({ Origin: origin })
    expect(res.status).toBe(403)
    expect(JSON.parse(res.body)).toEqual(refusal('FORBIDDEN', 'Origin not allowed'))
  })

  it('lets a client without an Origin header (not a browser page) in', async () => {
    const c = await server.client()
    expect(await c.request('ping')).toEqual({ status: 'success', ref: 1, pong: true })
    await c.close()
  })

  it('takes the token from the query string, the Authorization header or a bearer subprotocol', async () => {
    const viaQuery = await server.client({ query: `token=${SECRET}` })
    const viaHeader = await server.client({ headers: { Authorization: `Bearer ${SECRET}` } })
    const viaProtocol = await server.client({ protocols: ['talk', `bearer.${SECRET}`] })
    for (const c of [viaQuery, viaHeader, viaProtocol]) {
      expect(await c.request('whoami')).toEqual({ status: 'success', ref: 1, user: { id: 'alice' } })
    }
    // The server answers with the protocol that does not carry the token.
    expect(viaProtocol.socket.protocol).toBe('talk')
    await Promise.all([viaQuery, viaHeader, viaProtocol].map((c) => c.close()))
  })

  it('refuses an offer of token subprotocols only with 400, never echoing the token', async () => {
    for (const offer of [`bearer.${SECRET}`, `bearer.${SECRET}, bearer.other`]) {
      const res = await upgrade({ 'Sec-WebSocket-Protocol': offer })
      expect([res.status, JSON.parse(res.body)]).toEqual([400, refusal('BAD_REQUEST', 'Offer a subprotocol besides bearer.<token> for the server to answer with')])
      expect(JSON.stringify(res.headers)).not.toContain(SECRET)
    }
    // The same token next to a protocol to answer with is accepted, and the answer is that protocol.
    const res = await upgrade({ 'Sec-WebSocket-Protocol': `bearer.${SECRET}, talk` })
    expect([res.status, res.headers['sec-websocket-protocol']]).toEqual([101, 'talk'])
    res.socket.destroy()
  })

  it.each([
    ['query string', { path: '/?token=wrong' }],
    ['Authorization header', { headers: { Authorization: 'Bearer wrong' } }],
    ['subprotocol', { headers: { 'Sec-WebSocket-Protocol': 'talk, bearer.wrong' } }],
  ])('refuses a wrong token in the %s with 401', async (_label, options: { path?: string; headers?: Record<string, string> }) => {
    const res = await upgrade(options.headers, options.path)
    expect(res.status).toBe(401)
    expect(JSON.parse(res.body)).toEqual(refusal('UNAUTHORIZED', 'Invalid token'))
  })

  it('answers a URL that does not parse with 400, its query (and token) kept out of the logs', async () => {
    const res = await upgrade({}, `//a:99999/?token=${SECRET}`)
    expect(res.status).toBe(400)
    expect(JSON.parse(res.body)).toEqual(refusal('BAD_REQUEST', 'Malformed request URL'))
  })

  it('answers headers past 16 KiB with 431 (from Node, before any Talk code)', async () => {
    const res = await upgrade({ 'X-Padding': 'p'.repeat(20 * 1024) })
    expect(res.status).toBe(431)
  })

  it('answers a 20 KiB URL with 431', async () => {
    const res = await upgrade({}, `/?token=${SECRET}&pad=${'p'.repeat(20 * 1024)}`)
    expect(res.status).toBe(431)
  })

  it('answers a handshake hook that hangs with 504 after the handshake timeout', async () => {
    const res = await upgrade({}, '/?hang=1')
    expect(res.status).toBe(504)
    expect(JSON.parse(res.body)).toEqual(refusal('TIMEOUT', 'Handshake took too long'))
  })

  it('cuts off a client that never finishes its request headers (slowloris)', async () => {
    const socket = await tcp(server.port)
    const received: Buffer[] = []
    socket.on('data', (chunk: Buffer) => received.push(chunk))
    socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n')
    await closedSocket(socket)
    expect(Buffer.concat(received).toString()).toMatch(/^(HTTP\/1\.1 408|$)/)
  })

  it('cuts off a connection that sends nothing at all', async () => {
    const socket = await tcp(server.port)
    const received: Buffer[] = []
    socket.on('data', (chunk: Buffer) => received.push(chunk))
    await closedSocket(socket)
    // Talk's sweep closes it, or Node's header timeout answers 408 first: whichever comes first.
    expect(Buffer.concat(received).toString()).toMatch(/^(HTTP\/1\.1 408|$)/)
  })

  it('leaves an upgraded connection alone however long it stays quiet', async () => {
    const client = await server.client()
    // Several sweeps of the 200 ms handshake timeout pass with nothing sent either way.
    await new Promise((resolve) => setTimeout(resolve, 800))
    expect(await client.request('echo', { n: 1 })).toEqual({ status: 'success', ref: 1, body: { n: 1 } })
    await client.close()
  })

  it('answers a request that is not an upgrade with 426', async () => {
    const res = await rawHttp(server.port, `GET /?token=${SECRET} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    expect(res.status).toBe(426)
    expect(JSON.parse(res.body)).toEqual(refusal('BAD_REQUEST', 'This is a WebSocket endpoint'))
  })

  it('answers a broken upgrade (no key, wrong version) with 400 and frees its slot', async () => {
    const res = await rawHttp(server.port, `GET /?token=${SECRET} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 99\r\n\r\n`)
    expect(res.status).toBe(400)
  })
})

describe('attack: connection floods', () => {
  let server: TestServer
  afterEach(() => server.close())

  it('answers 503 with Retry-After past maxConnections, and accepts again once one leaves', async () => {
    server = await testServer(hostileApp(new LogCapture(), { maxConnections: 2 }))
    const [a] = await server.clients(2)
    const res = await rawHttp(server.port, upgradeRequest(server.port))
    expect(res.status).toBe(503)
    expect(res.headers['retry-after']).toBe('5')
    expect(JSON.parse(res.body)).toEqual(refusal('UNAVAILABLE', 'Server is at its connection limit'))
    await a!.close()
    await stillServes(server)
  })

  it('answers 429 past maxConnectionsPerIp, counting handshakes still in progress', async () => {
    const app = hostileApp(new LogCapture(), { maxConnectionsPerIp: 2, handshakeTimeout: 300 })
    let hung = 0
    let bothHung!: () => void
    const hanging = new Promise<void>((resolve) => (bothHung = resolve))
    app.handshake(async (hs) => {
      if (hs.query.hang === undefined) return
      if (++hung === 2) bothHung()
      await new Promise(() => undefined)
    })
    server = await testServer(app)
    // Two handshakes that never finish hold both of this address's slots…
    const stuck = [1, 2].map(() => rawHttp(server.port, upgradeRequest(server.port, { path: '/?hang=1' })))
    await hanging
    const res = await rawHttp(server.port, upgradeRequest(server.port))
    expect(res.status).toBe(429)
    expect(res.headers['retry-after']).toBe('5')
    expect(JSON.parse(res.body)).toEqual(refusal('RATE_LIMITED', 'Too many connections from this address'))
    // …until the handshake timeout answers them 504 and frees the slots.
    expect((await Promise.all(stuck)).map((r) => r.status)).toEqual([504, 504])
    await stillServes(server)
  })

  it('refuses upgrades with 503 while draining on a server it shares', async () => {
    const http = createServer()
    const app = hostileApp(new LogCapture())
    const entered = gate()
    const released = gate()
    app.route('hold', () => {
      entered.open()
      return released.wait
    })
    app.attach(http)
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    const port = (http.address() as { port: number }).port
    server = new TestServer(app, `ws://127.0.0.1:${port}`, port)
    const c = await server.client()
    const held = c.request('hold')
    await entered.wait
    const closing = app.close()
    const res = await rawHttp(port, upgradeRequest(port))
    expect(res.status).toBe(503)
    expect(JSON.parse(res.body)).toEqual(refusal('UNAVAILABLE', 'Server is shutting down'))
    released.open()
    expect(await held).toEqual({ status: 'success', ref: 1 })
    await closing
    await new Promise((resolve) => http.close(resolve))
  })
})

describe('origin defaults', () => {
  const env = process.env.NODE_ENV
  afterEach(() => {
    process.env.NODE_ENV = env
  })

  async function tryOrigin(options: Parameters<typeof talk>[0], origin: string): Promise<{ status: number; capture: LogCapture }> {
    const capture = new LogCapture()
    const app = talk({ logger: capture.logger, ...options })
    app.route('ping', () => ({ pong: true }))
    const server = await testServer(app)
    try {
      const res = await rawHttp(server.port, upgradeRequest(server.port, { headers: { Origin: origin.replace('PORT', String(server.port)) } }))
      res.socket.destroy()
      return { status: res.status, capture }
    } finally {
      await server.close()
    }
  }

  const warnings = (capture: LogCapture): unknown[] =>
    capture.lines.map((l) => JSON.parse(l) as { level: number; msg: string; origin?: string; host?: string }).filter((l) => l.level === 40)

  it.each(['development', 'test', 'production', undefined])('with NODE_ENV %s, allows only the page\'s own host unless told otherwise', async (nodeEnv) => {
    if (nodeEnv === undefined) delete process.env.NODE_ENV
    else process.env.NODE_ENV = nodeEnv
    expect((await tryOrigin({}, 'http://127.0.0.1:PORT')).status).toBe(101)
    expect((await tryOrigin({}, 'https://evil.example')).status).toBe(403)
    expect((await tryOrigin({ origins: '*' }, 'https://evil.example')).status).toBe(101)
  })

  it('refuses a cross-site page by default with 403 FORBIDDEN, and says once in the log how to let it in', async () => {
    const capture = new LogCapture()
    const app = talk({ logger: capture.logger })
    app.route('ping', () => ({ pong: true }))
    const server = await testServer(app)
    try {
      for (const origin of ['http://localhost:5173', 'https://evil.example']) {
        const res = await rawHttp(server.port, upgradeRequest(server.port, { headers: { Origin: origin } }))
        res.socket.destroy()
        expect({ status: res.status, body: JSON.parse(res.body) as unknown }).toEqual({ status: 403, body: refusal('FORBIDDEN', 'Origin not allowed') })
      }
      expect(warnings(capture)).toEqual([expect.objectContaining({
        origin: 'http://localhost:5173', host: `127.0.0.1:${server.port}`, msg: expect.stringContaining('default same-origin policy'),
      })])
      // A Node client sends no Origin: it is not a browser page, and connects as before.
      const c = await server.client()
      expect(await c.request('ping')).toEqual({ status: 'success', ref: 1, pong: true })
    } finally {
      await server.close()
    }
  })

  it('logs nothing for a refusal by an origins list the app chose', async () => {
    const { status, capture } = await tryOrigin({ origins: ['https://app.example.com'] }, 'https://evil.example')
    expect(status).toBe(403)
    expect(warnings(capture)).toEqual([])
  })

  it('refuses bad origin lists at start-up with a TypeError', () => {
    expect(() => talk({ origins: ['not an origin'] })).toThrow(TypeError)
    expect(() => talk({ origins: ['https://*'] })).toThrow(TypeError)
    expect(() => talk({ origins: ['https://a.*.example.com'] })).toThrow(TypeError)
    expect(() => talk({ origins: 'everyone' as never })).toThrow(TypeError)
    expect(() => talk({ maxConnections: -1 })).toThrow(TypeError)
    expect(() => talk({ handshakeTimeout: 1.5 })).toThrow(TypeError)
  })
})

describe('a malformed URL on a server Talk shares (attach with a path)', () => {
  it('is refused without taking the process down', async () => {
    const http = createServer((_req, res) => res.end('web'))
    const app = talk({ logger: new LogCapture().logger })
    app.route('ping', () => ({ pong: true }))
    app.attach(http, { path: '/talk' })
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    const port = (http.address() as { port: number }).port
    try {
      const res = await rawHttp(port, upgradeRequest(port, { path: '//a:99999/talk' }))
      expect(res.status).toBe(404)
      const c = await TestClient.connect(`ws://127.0.0.1:${port}/talk`)
      expect(await c.request('ping')).toEqual({ status: 'success', ref: 1, pong: true })
      await app.close()
      expect((await c.closed).code).toBe(CLOSE.GOING_AWAY)
    } finally {
      await new Promise((resolve) => http.close(resolve))
    }
  })
})

describe('a server given to attach()', () => {
  let http: Server
  let app: TalkApp
  let capture: LogCapture
  let port: number
  beforeEach(async () => {
    capture = new LogCapture()
    http = createServer((_req, res) => res.end('web'))
    app = hostileApp(capture, { handshakeTimeout: 200 })
    app.attach(http)
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    port = (http.address() as { port: number }).port
  })
  afterEach(async () => {
    await app.close()
    const closed = new Promise((resolve) => http.close(resolve))
    http.closeAllConnections()
    await closed
  })

  /** Everything a socket got until the server closed it. */
  async function untilClosed(socket: Socket): Promise<string> {
    const received: Buffer[] = []
    socket.on('data', (chunk: Buffer) => received.push(chunk))
    await closedSocket(socket)
    return Buffer.concat(received).toString()
  }

  it('cuts off connections that send nothing at all after the handshake timeout', async () => {
    const sockets = await Promise.all(Array.from({ length: 20 }, () => tcp(port)))
    for (const answer of await Promise.all(sockets.map(untilClosed))) expect(answer).toMatch(/^(HTTP\/1\.1 408|$)/)
    await stillServes(new TestServer(app, `ws://127.0.0.1:${port}`, port))
  })

  it('cuts off clients that trickle their request headers a byte at a time (slowloris)', async () => {
    const sockets = await Promise.all(Array.from({ length: 20 }, () => tcp(port)))
    const trickle = setInterval(() => {
      for (const socket of sockets) if (!socket.destroyed) socket.write('a')
    }, 50)
    try {
      for (const socket of sockets) socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nX-Padding: `)
      for (const answer of await Promise.all(sockets.map(untilClosed))) expect(answer).toMatch(/^HTTP\/1\.1 408/)
    } finally {
      clearInterval(trickle)
    }
    await stillServes(new TestServer(app, `ws://127.0.0.1:${port}`, port))
  })

  it("lowers the server's header timeout to the handshake timeout, and never raises one set lower", () => {
    expect([http.headersTimeout, http.requestTimeout]).toEqual([200, 300_000])
    const strict = createServer({ headersTimeout: 100, requestTimeout: 1000 })
    talk({ logger: capture.logger, handshakeTimeout: 200 }).attach(strict)
    expect([strict.headersTimeout, strict.requestTimeout]).toEqual([100, 1000])
    const untouched = createServer()
    talk({ logger: capture.logger, handshakeTimeout: 0 }).attach(untouched)
    expect([untouched.headersTimeout, untouched.requestTimeout]).toEqual([60_000, 300_000])
  })

  it('warns when the server already listens (Node reads its checking interval when listening starts)', async () => {
    expect(capture.text()).not.toContain('attach(): the server already listens')
    const listening = createServer()
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve))
    const late = talk({ logger: capture.logger, handshakeTimeout: 200 })
    late.attach(listening)
    expect(capture.lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.level === 40)).toEqual([{
      level: 40, time: expect.any(Number), pid: process.pid, hostname: expect.any(String), handshakeTimeout: 200, checkingInterval: 30_000,
      msg: 'attach(): the server already listens, so a connection that never finishes its headers is closed up to checkingInterval ms late; attach before listen()',
    }])
    await late.close()
    await new Promise((resolve) => listening.close(resolve))
  })
})
