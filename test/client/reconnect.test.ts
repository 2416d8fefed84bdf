import { talk, type TalkApp } from '../../index'
import { backoffDelay, connect, type ClientEvents, type ClientOptions, type TalkClient } from '../../lib/client'
import { silent } from '../helpers/seed-app'
import { clientEvent, serve, type Served } from './helpers'

/** A small app that records every request it runs, so a test can count runs. */
function countingApp(runs: number[]): TalkApp {
  const app = talk({ logger: silent, resume: true, closeTimeout: 100 })
  app.route('count', (ctx) => {
    runs.push(Number(ctx.body.n))
    return { n: ctx.body.n }
  })
  app.route('hang', () => new Promise(() => undefined))
  return app
}

const BACKOFF = { initialDelay: 10, maxDelay: 80 }

describe('reconnection', () => {
  let served: Served | undefined
  const clients: TalkClient[] = []
  const open = async (options: ClientOptions = {}) => {
    const client = await connect(String(served?.url), { heartbeat: false, reconnect: BACKOFF, ...options })
    clients.push(client)
    return client
  }
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await served?.close()
    served = undefined
  })

  it('survives a server killed and restarted on the same port: backoff, queued requests run exactly once', async () => {
    const before: number[] = []
    served = await serve(countingApp(before))
    const port = served.port
    const client = await open()
    const id = client.id
    expect(await client.request('count', { n: 0 })).toEqual({ n: 0 })
    const hanging = client.request('hang').catch((err: unknown) => err)
    const attempts: ClientEvents['reconnecting'][] = []
    client.on('reconnecting', (e) => attempts.push(e))
    const closed = clientEvent(client, 'close')

    await served.kill()
    expect(await closed).toEqual({ code: 1006, reason: '', willReconnect: true })
    // Asked while the server is down: queued, sent once it is back.
    const queued = [1, 2, 3].map((n) => client.request('count', { n }))
    // Let a few attempts fail against the closed port.
    await new Promise<void>((resolve) => client.on('reconnecting', (e) => e.attempt >= 3 && resolve()))

    const after: number[] = []
    const reconnected = clientEvent(client, 'reconnected')
    served = await serve(countingApp(after), port)
    const info = await reconnected
    // A restarted server has no session to resume: a new id, and the app is told to reload.
    expect(info).toEqual({ client: expect.any(String), resumed: false })
    expect(info.client).not.toBe(id)
    expect(await Promise.all(queued)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
    expect(after).toEqual([1, 2, 3])
    expect(before).toEqual([0])
    expect(await hanging).toMatchObject({ code: 'DISCONNECTED' })
    // Backoff: attempts count up, each wait within its full-jitter ceiling.
    expect(attempts.map((a) => a.attempt)).toEqual(attempts.map((_, i) => i + 1))
    for (const { attempt, delay } of attempts) {
      expect(delay).toBeGreaterThanOrEqual(0)
      expect(delay).toBeLessThan(Math.min(BACKOFF.maxDelay, BACKOFF.initialDelay * 2 ** (attempt - 1)))
    }
    expect(await client.request('count', { n: 4 })).toEqual({ n: 4 })
  })

  it('with reconnect off, the first drop closes for good and requests reject DISCONNECTED', async () => {
    served = await serve(countingApp([]))
    const client = await open({ reconnect: false })
    const hanging = client.request('hang').catch((err: unknown) => err)
    const closed = clientEvent(client, 'close')
    for (const c of served.app.clients.values()) c.socket.terminate()
    expect(await closed).toEqual({ code: 1006, reason: '', willReconnect: false })
    expect(await hanging).toMatchObject({ code: 'DISCONNECTED' })
    await expect(client.request('count', { n: 1 })).rejects.toMatchObject({ code: 'DISCONNECTED', message: 'The client is closed' })
  })

  it('bounds the offline queue, or fails fast when asked to', async () => {
    const runs: number[] = []
    served = await serve(countingApp(runs))
    const port = served.port
    const queueing = await open({ maxQueue: 2 })
    const failing = await open({ failFast: true })
    const down = Promise.all([clientEvent(queueing, 'close'), clientEvent(failing, 'close')])
    await served.kill()
    await down
    await expect(failing.request('count', { n: 9 })).rejects.toMatchObject({ code: 'DISCONNECTED', message: 'Not connected' })
    const kept = [queueing.request('count', { n: 1 }), queueing.request('count', { n: 2 })]
    await expect(queueing.request('count', { n: 3 })).rejects.toMatchObject({
      code: 'DISCONNECTED', message: 'Not connected, and 2 requests are already waiting',
    })
    const back = Promise.all([clientEvent(queueing, 'reconnected'), clientEvent(failing, 'reconnected')])
    served = await serve(countingApp(runs), port)
    await back
    expect(await Promise.all(kept)).toEqual([{ n: 1 }, { n: 2 }])
    expect(runs).toEqual([1, 2])
    expect(await failing.request('count', { n: 5 })).toEqual({ n: 5 })
  })

  it('gives up after maxAttempts and closes with DISCONNECTED', async () => {
    served = await serve(countingApp([]))
    const client = await open({ reconnect: { ...BACKOFF, maxAttempts: 2 } })
    const events: string[] = []
    client.on('reconnecting', (e) => events.push(`reconnecting ${e.attempt}`))
    client.on('close', (e) => events.push(`close ${String(e.willReconnect)}`))
    const queued = client.request('count', { n: 1 }).catch((err: unknown) => err)
    const final = new Promise<void>((resolve) => client.on('close', (e) => !e.willReconnect && resolve()))
    const down = clientEvent(client, 'close')
    await served.kill()
    served = undefined
    await down
    await final
    expect(events).toEqual(['close true', 'reconnecting 1', 'reconnecting 2', 'close false'])
    expect(await queued).toMatchObject({ code: 'DISCONNECTED', message: 'Gave up reconnecting after 2 attempts' })
  })

  it('does not reconnect after a policy close (1008) from the server', async () => {
    served = await serve(countingApp([]))
    const client = await open()
    const closed = clientEvent(client, 'close')
    served.app.clients.get(String(client.id))?.close(1008, 'token expired')
    expect(await closed).toEqual({ code: 1008, reason: 'token expired', willReconnect: false })
    expect(client.connected).toBe(false)
  })

  it('reconnects after a graceful server shutdown (1001) to the next server', async () => {
    served = await serve(countingApp([]))
    const port = served.port
    const client = await open()
    const closed = clientEvent(client, 'close')
    await served.close()
    expect(await closed).toEqual({ code: 1001, reason: 'server shutting down', willReconnect: true })
    const reconnected = clientEvent(client, 'reconnected')
    served = await serve(countingApp([]), port)
    expect(await reconnected).toEqual({ client: expect.any(String), resumed: false })
    expect(await client.request('count', { n: 7 })).toEqual({ n: 7 })
  })
})

describe('backoffDelay', () => {
  it('draws uniformly below an exponential ceiling capped at maxDelay (full jitter)', () => {
    const options = { initialDelay: 100, maxDelay: 1000, factor: 2 }
    expect([1, 2, 3, 4, 5, 10].map((attempt) => backoffDelay(attempt, options, () => 0.999999))).toEqual([99, 199, 399, 799, 999, 999])
    expect(backoffDelay(7, options, () => 0)).toBe(0)
    expect(backoffDelay(2, options, () => 0.5)).toBe(100)
  })

  it('defaults to 500 ms doubling up to 10 s', () => {
    expect(backoffDelay(1, {}, () => 0.999999)).toBe(499)
    expect(backoffDelay(30, {}, () => 0.999999)).toBe(9999)
  })
})
