import { auth, talk, TalkError, type TalkApp } from '../../index'
import { connect, createClient, type TalkClient } from '../../lib/client'
import { silent } from '../helpers/seed-app'
import { serve, type Served } from './helpers'

/** An app that lets in `?token=good` only, and whose hook throws for `?boom=1`. */
function guardedApp(): TalkApp {
  const app = talk({ logger: silent })
  app.use(auth({ from: 'query', verify: (token) => (token === 'good' ? { user: { id: 'ann' } } : undefined) }))
  app.handshake((hs) => {
    if (hs.query.boom === '1') throw new Error('the hook broke')
  })
  app.route('echo', (ctx) => ({ body: ctx.body }))
  return app
}


async function refusal(url: string): Promise<unknown> {
  return connect(url, { heartbeat: false, reconnect: false }).then(
    async (client) => {
      await client.close()
      throw new Error('connected')
    },
    (err: unknown) => err,
  )
}

describe('a refused connection', () => {
  let server: Served
  const clients: TalkClient[] = []

  beforeEach(async () => {
    server = await serve(guardedApp())
  })

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await server.close()
  })

  it('rejects with the server\'s UNAUTHORIZED, its message and the HTTP status, never the token', async () => {
    const err = await refusal(`${server.url}/?token=bad-secret-123`)
    expect(err).toBeInstanceOf(TalkError)
    expect({ code: (err as TalkError).code, message: (err as TalkError).message, details: (err as TalkError).details }).toEqual({
      code: 'UNAUTHORIZED', message: expect.any(String), details: { status: 401 },
    })
    expect(String((err as TalkError).message)).not.toContain('bad-secret-123')
    expect(JSON.stringify(err)).not.toContain('bad-secret-123')
  })

  it('rejects a missing token with UNAUTHORIZED and 401', async () => {
    const err = await refusal(server.url)
    expect(err).toMatchObject({ code: 'UNAUTHORIZED', details: { status: 401 } })
  })

  it('rejects a throwing handshake hook with INTERNAL and 500, the hook\'s own message kept on the server', async () => {
    const err = await refusal(`${server.url}/?token=good&boom=1`)
    expect(err).toMatchObject({ code: 'INTERNAL', details: { status: 500 } })
    expect((err as TalkError).message).not.toContain('the hook broke')
  })

  it('names the endpoint without its query when nothing answered', async () => {
    const err = await refusal('ws://127.0.0.1:1/?token=bad-secret-123')
    expect(err).toMatchObject({ code: 'DISCONNECTED', message: 'Could not connect to ws://127.0.0.1:1/' })
  })

  it('stops reconnecting once the server refuses its credentials, with the refusal as the reason', async () => {
    let allowed = true
    const app = talk({ logger: silent })
    app.handshake(() => {
      if (!allowed) throw new TalkError('FORBIDDEN', 'You were banned')
    })
    app.route('echo', (ctx) => ({ body: ctx.body }))
    const other = await serve(app)
    try {
      const client = await connect(other.url, { heartbeat: false, reconnect: { initialDelay: 10, maxDelay: 20 } })
      clients.push(client)
      const dropped = new Promise<void>((resolve) => client.on('close', (e) => {
        if (e.willReconnect) resolve()
      }))
      const closed = new Promise<{ code: number; willReconnect: boolean }>((resolve) => client.on('close', (e) => {
        if (!e.willReconnect) resolve(e)
      }))
      allowed = false
      for (const connection of app.clients.values()) connection.socket.terminate()
      await dropped
      // Made while reconnecting: it waits in the offline queue, and fails with the refusal.
      const pending = client.request('echo', { after: 'refusal' }, { timeout: 0 }).catch((err: unknown) => err)
      expect(await closed).toEqual({ code: 1006, reason: '', willReconnect: false })
      expect(await pending).toMatchObject({ code: 'FORBIDDEN', message: 'You were banned', details: { status: 403 } })
    } finally {
      await other.close()
    }
  })

  it('waits as long as Retry-After asks (up to its backoff ceiling) when the server is full, then gets in', async () => {
    const app = talk({ logger: silent, maxConnections: 1 })
    app.route('echo', (ctx) => ({ body: ctx.body }))
    const full = await serve(app)
    try {
      const client = await connect(full.url, { heartbeat: false, reconnect: { initialDelay: 5, maxDelay: 300 } })
      clients.push(client)
      const delays: number[] = []
      let other: TalkClient | undefined
      const back = new Promise<void>((resolve) => client.on('reconnected', () => resolve()))
      client.on('reconnecting', ({ delay }) => {
        delays.push(delay)
        // Refused 503 with Retry-After once: the slot is given back after that.
        if (delays.length === 2) void other?.close()
      })
      // Another client takes the only slot the moment the first one drops.
      app.on('disconnect', () => {
        if (other === undefined) void connect(full.url, { heartbeat: false, reconnect: false }).then((c) => (other = c))
      })
      for (const connection of app.clients.values()) connection.socket.terminate()
      await back
      expect(delays.length).toBe(2)
      expect(delays[0]).toBeLessThan(300)
      // Retry-After: 5 s, held to the client's own maxDelay of 300 ms.
      expect(delays[1]).toBe(300)
      expect(await client.request('echo', { back: true })).toEqual({ body: { back: true } })
    } finally {
      await full.close()
    }
  })
})
