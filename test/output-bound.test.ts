import { CLOSE, talk, type TalkApp } from '../index'
import { testServer, type TestServer } from '../lib/testing'
import { silent } from './helpers/seed-app'

/** Resolves with the code of the next connection the app closes. */
function nextClose(app: TalkApp): Promise<number> {
  return new Promise((resolve) => {
    const listener = (_client: unknown, code: number): void => {
      app.off('disconnect', listener)
      resolve(code)
    }
    app.on('disconnect', listener)
  })
}

describe('output sized honestly', () => {
  let server: TestServer
  afterEach(() => server.close())

  it('delivers a 5 MB reply in full to a client reading at line rate, and the connection stays open', async () => {
    const app = talk({ logger: silent })
    const big = 'x'.repeat(5_000_000)
    app.route('big', () => ({ data: big }))
    app.route('small', () => ({ ok: true }))
    server = await testServer(app)
    const c = await server.client()
    expect(await c.request('big')).toEqual({ status: 'success', ref: 1, data: big })
    expect(await c.request('small')).toEqual({ status: 'success', ref: 2, ok: true })
    expect(server.app.clients.size).toBe(1)
  })

  it('delivers four pipelined 1.3 MB replies written in one turn, and the connection stays open', async () => {
    const app = talk({ logger: silent })
    const doc = 'y'.repeat(1_300_000)
    app.route('doc', async (ctx) => {
      await Promise.resolve()
      return { n: ctx.body.n, doc }
    })
    app.route('small', () => ({ ok: true }))
    server = await testServer(app)
    const c = await server.client()
    const replies = [0, 1, 2, 3].map((n) => c.request('doc', { n }))
    expect(await Promise.all(replies)).toEqual([0, 1, 2, 3].map((n) => ({ status: 'success', ref: n + 1, n, doc })))
    expect(await c.request('small')).toEqual({ status: 'success', ref: 5, ok: true })
    expect(server.app.clients.size).toBe(1)
  })

  it('closes a client that stops reading with 4900 once its backlog stops shrinking', async () => {
    const app = talk({ logger: silent, maxBufferedBytes: 1024 * 1024, rateLimit: false })
    const chunk = 'z'.repeat(256 * 1024)
    let answered: (() => void) | undefined
    app.route('doc', (ctx) => {
      ctx.reply({ chunk })
      answered?.()
    })
    app.route('small', () => ({ ok: true }))
    server = await testServer(app)
    const [slow, other] = await server.clients(2)
    const connection = server.app.clients.get(slow!.welcome.client as string)!
    const closed = nextClose(server.app)
    // Stop reading: the kernel's buffers fill, then the server's own backlog grows.
    ;(slow!.socket as unknown as { _socket: { pause(): void } })._socket.pause()
    const send = async (): Promise<void> => {
      const ran = new Promise<void>((resolve) => (answered = resolve))
      slow!.socket.send(JSON.stringify({ command: 'doc' }))
      await ran
      await new Promise((resolve) => setImmediate(resolve))
    }
    // Past the bound (but under the 4× hard bound), then one more write: from then on it is watched.
    while (connection.socket.bufferedAmount <= 1.5 * 1024 * 1024) await send()
    await send()
    expect(await closed).toBe(CLOSE.SLOW_CONSUMER)
    slow!.socket.terminate()
    expect(await other!.request('small')).toEqual({ status: 'success', ref: 1, ok: true })
  })

  it('paces a client that asks for more than it reads: its requests wait while 2 × maxBufferedBytes are unsent, and it is not closed', async () => {
    const bound = 256 * 1024
    const app = talk({ logger: silent, maxBufferedBytes: bound, rateLimit: false })
    const chunk = 'z'.repeat(128 * 1024)
    let ran = 0
    let enough: (() => void) | undefined
    app.route('doc', (ctx) => {
      ctx.reply({ chunk })
      if (++ran === 4) enough?.()
    })
    app.route('small', () => ({ ok: true }))
    server = await testServer(app)
    const [slow, other] = await server.clients(2)
    const connection = server.app.clients.get(slow!.welcome.client as string)!
    let closedWith: number | undefined
    app.on('disconnect', (_client, code) => (closedWith = code))
    const raw = (slow!.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket
    raw.pause()
    const started = new Promise<void>((resolve) => (enough = resolve))
    // 40 replies of 128 KB: 5 MB, past the 4 × bound (1 MiB) that closes a connection at once.
    const replies = Array.from({ length: 40 }, () => slow!.request('doc'))
    await started
    // Some turns for the server to go on if it were going to (it must not: the client reads nothing).
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(ran).toBeLessThan(40)
    expect(connection.socket.bufferedAmount).toBeLessThanOrEqual(2 * bound + chunk.length + 64)
    expect(await other!.request('small')).toEqual({ status: 'success', ref: 1, ok: true })
    raw.resume()
    const answered = await Promise.all(replies)
    expect(answered.map((r) => r.status)).toEqual(Array(40).fill('success'))
    expect(ran).toBe(40)
    expect(closedWith).toBeUndefined()
    expect(await slow!.request('small')).toEqual({ status: 'success', ref: 41, ok: true })
  })

  it('never closes a reader that keeps taking bytes, even when each check finds the backlog back at its high point', async () => {
    const bound = 256 * 1024
    const app = talk({ logger: silent, maxBufferedBytes: bound, rateLimit: false })
    const chunk = 'z'.repeat(128 * 1024)
    app.route('doc', () => ({ chunk }))
    server = await testServer(app)
    const slow = await server.client()
    const closed = nextClose(server.app)
    const raw = (slow.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket
    // A reader in bursts: it stops for 400 ms, then reads for 5 ms. Each time it stops,
    // the server refills the backlog to its high point (2 × the bound) and waits; a slow-consumer
    // check that finds it there must still see that the reader took bytes during its interval.
    let reading = true
    const rhythm = (async () => {
      while (reading) {
        raw.pause()
        await new Promise((resolve) => setTimeout(resolve, 400))
        raw.resume()
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    })()
    const replies = Promise.all(Array.from({ length: 160 }, () => slow.request('doc')))
    const outcome = await Promise.race([replies.then((r) => r.map((reply) => reply.status)), closed])
    reading = false
    await rhythm
    expect(outcome).toEqual(Array(160).fill('success'))
  }, 20_000)

  it('answers PAYLOAD_TOO_LARGE instead of a reply over maxReplyBytes, counting UTF-8 bytes, and the connection survives', async () => {
    const app = talk({ logger: silent, maxReplyBytes: 1000 })
    app.route('text', (ctx) => ({ text: String(ctx.body.char).repeat(Number(ctx.body.times)) }))
    server = await testServer(app)
    const c = await server.client()
    const size = (ref: number, text: string): number => Buffer.byteLength(JSON.stringify({ status: 'success', ref, text }))
    expect(await c.request('text', { char: 'x', times: 2000 })).toEqual({
      status: 'error',
      ref: 1,
      error: { code: 'PAYLOAD_TOO_LARGE', message: `The reply was too big to send (${size(1, 'x'.repeat(2000))} bytes; the limit is 1000)` },
    })
    // 600 two-byte characters: under the limit in characters, over it in bytes.
    expect(await c.request('text', { char: 'é', times: 600 })).toEqual({
      status: 'error',
      ref: 2,
      error: { code: 'PAYLOAD_TOO_LARGE', message: `The reply was too big to send (${size(2, 'é'.repeat(600))} bytes; the limit is 1000)` },
    })
    expect(await c.request('text', { char: 'é', times: 400 })).toEqual({ status: 'success', ref: 3, text: 'é'.repeat(400) })
    expect(server.app.clients.size).toBe(1)
  })

  it('rejects a maxReplyBytes that is not a positive number', () => {
    expect(() => talk({ logger: silent, maxReplyBytes: 0 })).toThrow('talk(): maxReplyBytes must be a positive number')
  })
})
