import { setTimeout as delay } from 'node:timers/promises'
import { rateLimit, talk, TokenBucket, type Context, type TalkApp } from '../../index'
import { testServer, type Frame, type TestClient, type TestServer } from '../../lib/testing'

type Two = [TestClient, TestClient]
import { silent } from '../helpers/seed-app'

const limited = (ref: number) => ({
  status: 'error', ref, error: { code: 'RATE_LIMITED', message: 'Too many requests', details: { retryAfterMs: expect.any(Number) } },
})

/** Sends `n` pings without waiting and resolves with all the replies. */
function burst(client: TestClient, n: number): Promise<Frame[]> {
  return Promise.all(Array.from({ length: n }, () => client.request('ping')))
}

describe('rateLimit', () => {
  let app: TalkApp
  let server: TestServer
  beforeEach(() => {
    app = talk({ logger: silent })
    app.handshake((hs) => {
      if (hs.query.user !== undefined) hs.user = { id: hs.query.user }
    })
  })
  afterEach(() => server.close())

  it('answers RATE_LIMITED with a retry-after once the bucket is empty, and lets the connection go on after it', async () => {
    app.use(rateLimit({ capacity: 3, refillPerSecond: 20 }))
    app.route('ping', () => ({ pong: true }))
    server = await testServer(app)
    const [a, b] = (await server.clients(2)) as Two
    const replies = await burst(a, 4)
    expect(replies.slice(0, 3)).toEqual([1, 2, 3].map((ref) => ({ status: 'success', ref, pong: true })))
    expect(replies[3]).toEqual(limited(4))
    const wait = (replies[3]?.error as { details: { retryAfterMs: number } }).details.retryAfterMs
    expect(wait).toBeGreaterThan(0)
    expect(wait).toBeLessThanOrEqual(100)
    // Another connection has its own bucket.
    expect(await b.request('ping')).toEqual({ status: 'success', ref: 1, pong: true })
    await delay(wait)
    expect(await a.request('ping')).toEqual({ status: 'success', ref: 5, pong: true })
  })

  it('shares one bucket between the connections of a user, or of an IP', async () => {
    app.use('by-user', rateLimit({ capacity: 2, refillPerSecond: 0.1, by: 'user' }))
    app.use('by-ip', rateLimit({ capacity: 3, refillPerSecond: 0.1, by: 'ip' }))
    app.route('by-user', () => ({}))
    app.route('by-ip', () => ({}))
    server = await testServer(app)
    const ada1 = await server.client({ query: 'user=ada' })
    const ada2 = await server.client({ query: 'user=ada' })
    const bob = await server.client({ query: 'user=bob' })
    expect(await ada1.request('by-user')).toEqual({ status: 'success', ref: 1 })
    expect(await ada2.request('by-user')).toEqual({ status: 'success', ref: 1 })
    expect(await ada1.request('by-user')).toEqual(limited(2))
    expect(await bob.request('by-user')).toEqual({ status: 'success', ref: 1 })
    // Every client here is 127.0.0.1.
    expect(await ada1.request('by-ip')).toEqual({ status: 'success', ref: 3 })
    expect(await ada2.request('by-ip')).toEqual({ status: 'success', ref: 2 })
    expect(await bob.request('by-ip')).toEqual({ status: 'success', ref: 2 })
    expect(await bob.request('by-ip')).toEqual(limited(3))
  })

  it('falls back to the connection for an anonymous client when limiting by user', async () => {
    app.use(rateLimit({ capacity: 1, refillPerSecond: 0.1, by: 'user' }))
    app.route('ping', () => ({}))
    server = await testServer(app)
    const [a, b] = (await server.clients(2)) as Two
    expect(await a.request('ping')).toEqual({ status: 'success', ref: 1 })
    expect(await b.request('ping')).toEqual({ status: 'success', ref: 1 })
    expect(await a.request('ping')).toEqual(limited(2))
  })

  it('closes with 1008 a connection that keeps sending far past its limit, after answering', async () => {
    app.use(rateLimit({ capacity: 5, refillPerSecond: 1, closeAfter: 10 }))
    app.route('ping', () => ({}))
    server = await testServer(app)
    const [flooder, bystander] = (await server.clients(2)) as Two
    const replies: Frame[] = []
    flooder.socket.on('message', (data) => replies.push(JSON.parse(data.toString()) as Frame))
    for (let i = 1; i <= 40; i++) flooder.socket.send(JSON.stringify({ command: 'ping', ref: i }))
    expect(await flooder.closed).toEqual({ code: 1008, reason: 'rate limit exceeded' })
    // 5 admitted, then 10 rejections take the bucket to its floor (11 if a refill trickled in meanwhile);
    // the last one is answered, then the close, and nothing after it.
    expect(replies.slice(0, 5)).toEqual([1, 2, 3, 4, 5].map((ref) => ({ status: 'success', ref })))
    expect(replies.length === 15 || replies.length === 16).toBe(true)
    expect(replies.slice(5)).toEqual(replies.slice(5).map((_, i) => limited(6 + i)))
    expect(await bystander.request('ping')).toEqual({ status: 'success', ref: 1 })
  })

  it('counts requests refused for a full queue toward the 1008 close', async () => {
    const flooding = talk({ logger: silent, rateLimit: false, maxQueue: 2 })
    flooding.use(rateLimit({ capacity: 5, refillPerSecond: 0.01, closeAfter: 5 }))
    const held = new Promise<void>(() => undefined)
    flooding.route('hold', () => held)
    flooding.route('ping', () => ({}))
    server = await testServer(flooding)
    const [flooder, bystander] = (await server.clients(2)) as Two
    // `hold` never finishes and takes one token; two requests wait; every later one is refused (queue
    // full) and takes a token: 4 more empty the bucket, 5 more take it to its floor and the close.
    flooder.socket.send(JSON.stringify({ command: 'hold', ref: 0 }))
    for (let i = 1; i <= 40; i++) flooder.socket.send(JSON.stringify({ command: 'ping', ref: i }))
    expect(await flooder.closed).toEqual({ code: 1008, reason: 'rate limit exceeded' })
    expect(await bystander.request('ping')).toEqual({ status: 'success', ref: 1 })
  })

  it('counts queue-full refusals only toward a limiter scoped to their route', async () => {
    const scoped = talk({ logger: silent, rateLimit: false, maxQueue: 1 })
    scoped.use('other', rateLimit({ capacity: 1, refillPerSecond: 0.01, closeAfter: 1 }))
    scoped.route('hold', () => new Promise<void>(() => undefined))
    scoped.route('ping', () => ({}))
    scoped.route('other', () => ({}))
    server = await testServer(scoped)
    const client = await server.client()
    client.socket.send(JSON.stringify({ command: 'hold', ref: 0 }))
    for (let i = 1; i <= 8; i++) client.socket.send(JSON.stringify({ command: 'ping', ref: i }))
    // Seven refusals, none of them for `other`: its bucket is untouched and the connection stays.
    expect(await client.request('talk/ping', {}, { ref: 'after' })).toEqual({ status: 'success', ref: 'after' })
    expect(server.app.clients.size).toBe(1)
  })

  it('charges what `cost` says', async () => {
    app.use(rateLimit({ capacity: 10, refillPerSecond: 0.1, cost: (ctx) => (ctx.route === 'heavy' ? 6 : 1) }))
    app.route('heavy', () => ({}))
    app.route('light', () => ({}))
    server = await testServer(app)
    const client = await server.client()
    expect(await client.request('heavy')).toEqual({ status: 'success', ref: 1 })
    expect(await client.request('heavy')).toEqual(limited(2))
    expect(await client.request('light')).toEqual({ status: 'error', ref: 3, error: expect.objectContaining({ code: 'RATE_LIMITED' }) })
  })

  it('checks its options at start-up', async () => {
    expect(() => rateLimit({ capacity: 0 })).toThrow(TypeError)
    expect(() => rateLimit({ refillPerSecond: -1 })).toThrow(TypeError)
    expect(() => rateLimit({ by: 'session' as never })).toThrow(TypeError)
    expect(() => rateLimit({ closeAfter: 0 })).toThrow(TypeError)
    expect(() => rateLimit({ cost: 2 as never })).toThrow(TypeError)
    server = await testServer(app)
  })
})

describe('TokenBucket', () => {
  it('admits a burst of `capacity`, then one per refill interval, and says how long to wait', () => {
    const bucket = new TokenBucket(3, 10, Infinity, 0)
    expect([bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([0, 0, 0])
    expect(bucket.take(0)).toBe(200) // now owes one: two tokens' worth of waiting at 10/s
    expect(bucket.take(250)).toBe(0) // 2.5 tokens came back: the debt paid, 1.5 left
    expect(bucket.take(250)).toBe(150)
    expect(bucket.available(1000)).toBe(3)
    expect(bucket.full(1000)).toBe(true)
  })

  it('goes into debt down to its floor while rejected requests keep coming', () => {
    const bucket = new TokenBucket(2, 1, 3, 0)
    bucket.take(0)
    bucket.take(0)
    for (let i = 0; i < 2; i++) bucket.take(0)
    expect(bucket.exhausted()).toBe(false)
    bucket.take(0)
    expect(bucket.exhausted()).toBe(true)
    expect(bucket.available(0)).toBe(-3)
    expect(bucket.available(5000)).toBe(2)
  })
})

describe('rateLimit shared buckets', () => {
  afterEach(() => jest.useRealTimers())

  it('are dropped once full again, so memory follows the active keys only', async () => {
    jest.useFakeTimers()
    const limit = rateLimit({ capacity: 2, refillPerSecond: 2, by: 'ip' })
    const next = () => Promise.resolve()
    for (let i = 0; i < 100; i++) {
      const ctx = { client: { handshake: { ip: `10.0.0.${i}` } }, route: 'x' } as unknown as Context
      await limit(ctx, next)
    }
    expect(limit.size).toBe(100)
    jest.advanceTimersByTime(2500)
    expect(limit.size).toBe(0)
    limit.close()
  })
})
