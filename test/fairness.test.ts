import { talk, type TalkOptions } from '../index'
import { testServer, type TestClient, type TestServer } from '../lib/testing'
import { silent } from './helpers/seed-app'
import { gate } from './helpers/gate'

/** Resolves once `client` has its pong for `ref`: every frame it sent before the ping has reached the server. */
function synced(client: TestClient, ref: string): Promise<unknown> {
  return client.request('talk/ping', {}, { ref })
}

describe('fairness: one connection never holds the event loop', () => {
  let server: TestServer
  afterEach(() => server.close())

  /**
   * Connection A has a request held open and 256 synchronous ones (about 50 µs each) queued behind
   * it; once it is let go, B's ping (already sent) must be answered while A's queue is still
   * draining: a queue drained in one go answers B only after all 256.
   */
  async function pingDuringDrain(options: TalkOptions): Promise<number> {
    const app = talk({ logger: silent, ...options })
    const held = gate()
    let ticks = 0
    app.route('wait', async () => {
      await held.wait
      return { waited: true }
    })
    app.route('tick', () => {
      ticks++
      // About 50 µs of CPU each: 256 of them are a turn's time several times over.
      const until = performance.now() + 0.05
      while (performance.now() < until);
    })
    server = await testServer(app)
    const [a, b] = await server.clients(2)
    const replies = [a!.request('wait')]
    for (let n = 0; n < 256; n++) replies.push(a!.request('tick'))
    await synced(a!, 'queued')
    const pong = b!.request('talk/ping', {}, { ref: 'b' }).then((frame) => ({ frame, ticks }))
    held.open()
    const seen = await pong
    expect(seen.frame).toEqual({ status: 'success', ref: 'b' })
    // Every one of A's requests is still answered, in order.
    const all = await Promise.all(replies)
    expect(all[0]).toEqual({ status: 'success', ref: 1, waited: true })
    expect(all.slice(1)).toEqual(Array.from({ length: 256 }, (_v, n) => ({ status: 'success', ref: n + 2 })))
    return seen.ticks
  }

  it("answers another connection's ping before a queue of 256 synchronous requests has drained", async () => {
    expect(await pingDuringDrain({})).toBeLessThan(256)
  })

  it('yields after maxRequestsPerTurn requests', async () => {
    // A budget of 4 a turn (and all the time it wants): B's ping comes within a few turns of A's drain.
    expect(await pingDuringDrain({ maxRequestsPerTurn: 4, maxTurnMs: 1000 })).toBeLessThan(64)
  })

  it('yields once its requests have taken maxTurnMs', async () => {
    const app = talk({ logger: silent, maxQueue: 64, maxRequestsPerTurn: 1000, maxTurnMs: 1 })
    const held = gate()
    let ticks = 0
    app.route('wait', async () => {
      await held.wait
    })
    app.route('slow', () => {
      ticks++
      // A handler that takes 2 ms of CPU: the turn is spent after the second one.
      const until = performance.now() + 2
      while (performance.now() < until);
    })
    server = await testServer(app)
    const [a, b] = await server.clients(2)
    const replies = [a!.request('wait')]
    for (let n = 0; n < 64; n++) replies.push(a!.request('slow'))
    await synced(a!, 'queued')
    const pong = b!.request('talk/ping', {}, { ref: 'b' }).then(() => ticks)
    held.open()
    expect(await pong).toBeLessThan(64)
    expect((await Promise.all(replies)).length).toBe(65)
  })

  it('answers every request across turns, in arrival order with concurrency 1', async () => {
    for (const concurrency of [1, 3]) {
      const app = talk({ logger: silent, maxQueue: 1000, maxRequestsPerTurn: 5, concurrency })
      app.route('now', (ctx) => ({ n: ctx.body.n }))
      app.route('later', async (ctx) => {
        await Promise.resolve()
        return { n: ctx.body.n }
      })
      server = await testServer(app)
      const c = await server.client()
      const arrived: unknown[] = []
      c.socket.on('message', (data) => arrived.push((JSON.parse(data.toString()) as { ref: unknown }).ref))
      const replies = []
      for (let n = 0; n < 300; n++) replies.push(c.request(n % 4 === 0 ? 'later' : 'now', { n }))
      expect(await Promise.all(replies)).toEqual(Array.from({ length: 300 }, (_v, n) => ({ status: 'success', ref: n + 1, n })))
      if (concurrency === 1) expect(arrived).toEqual(Array.from({ length: 300 }, (_v, n) => n + 1))
      await server.close()
    }
  })

  it('rejects a maxRequestsPerTurn or maxTurnMs that is not a positive number', () => {
    expect(() => talk({ logger: silent, maxRequestsPerTurn: 0 })).toThrow('talk(): maxRequestsPerTurn must be a positive number')
    expect(() => talk({ logger: silent, maxTurnMs: -1 })).toThrow('talk(): maxTurnMs must be a positive number')
  })
})
