// The attack suite, part 3: floods, stalled and half-open connections, broken WebSocket framing.
// Each ends with the server serving others; the suite ends with the heap near its baseline.
import WebSocket from 'ws'
import { CLOSE, type TalkApp } from '../../index'
import { testServer, type TestServer } from '../../lib/testing'
import { heapAfterGc, hostileApp, LogCapture, SECRET, stillServes } from './harness'
import { frame, rawWebSocket } from './raw'
import { gate } from '../helpers/gate'

type Frame = Record<string, unknown>

/**
 * Sends frames in bursts of 100 per event-loop turn (fast, yet under the request queue bound, so the
 * rate limit is what answers) and collects every reply until the server closes.
 */
async function flood(url: string, frames: string[]): Promise<{ replies: Frame[]; code: number; reason: string }> {
  const ws = new WebSocket(url)
  const replies: Frame[] = []
  ws.on('message', (data) => replies.push(JSON.parse(data.toString()) as Frame))
  const closed = new Promise<[number, Buffer]>((resolve) => ws.once('close', (c, r) => resolve([c, r])))
  await new Promise((resolve) => ws.once('open', resolve))
  for (let i = 0; i < frames.length && ws.readyState === WebSocket.OPEN; i += 100) {
    for (const f of frames.slice(i, i + 100)) ws.send(f)
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  const [code, reason] = await closed
  return { replies: replies.slice(1), code, reason: reason.toString() }
}

function counter(app: TalkApp, name: string): Promise<Record<string, number>> {
  const metric = app.metrics?.registry.getSingleMetric(name)
  if (metric === undefined) throw new Error(`no metric ${name}`)
  return Promise.resolve(metric.get()).then((m) => Object.fromEntries(m.values.map((v) => [Object.values(v.labels).join(',') || 'total', v.value])))
}

describe('attack: floods and stalled connections', () => {
  let server: TestServer
  let capture: LogCapture
  let baseline: number | undefined

  afterEach(async () => {
    await stillServes(server)
    await server.close()
    expect(capture.text()).not.toContain(SECRET)
  })
  afterAll(async () => {
    const heap = await heapAfterGc()
    expect(heap - (baseline ?? heap)).toBeLessThan(24 * 1024 * 1024)
  })

  async function start(options: Parameters<typeof hostileApp>[1] = {}): Promise<TalkApp> {
    capture = new LogCapture()
    const app = hostileApp(capture, options)
    server = await testServer(app)
    baseline ??= await heapAfterGc()
    return app
  }

  it('answers a request flood RATE_LIMITED past the default bucket, then closes it with 1008', async () => {
    await start()
    const frames = Array.from({ length: 20_000 }, (_v, n) => JSON.stringify({ command: 'echo', ref: n }))
    const { replies, code, reason } = await flood(`${server.url}?token=${SECRET}`, frames)
    expect({ code, reason }).toEqual({ code: CLOSE.POLICY, reason: 'rate limit exceeded' })
    // One reply per request, in order, until the close. Requests refused for a full queue take a token
    // each too (they count toward the close), so less than the burst of 1,000 may be served.
    expect(replies.map((r) => r.ref)).toEqual(replies.map((_r, n) => n))
    expect(replies[0]).toEqual({ status: 'success', ref: 0, body: {} })
    for (const reply of replies) {
      if (reply.status === 'success') expect(reply).toEqual({ status: 'success', ref: reply.ref, body: {} })
      else if ((reply.error as Frame).message === 'Too many requests') {
        expect(reply).toEqual({ status: 'error', ref: reply.ref, error: { code: 'RATE_LIMITED', message: 'Too many requests', details: { retryAfterMs: expect.any(Number) } } })
      } else {
        expect(reply).toEqual({ status: 'error', ref: reply.ref, error: { code: 'RATE_LIMITED', message: 'Too many requests waiting on this connection' } })
      }
    }
    expect(replies.length).toBeLessThan(frames.length)
  })

  it('answers past the request queue bound RATE_LIMITED, then serves what it queued', async () => {
    const app = await start({ maxQueue: 8, rateLimit: false })
    const hold = gate()
    app.route('hold', async () => {
      await hold.wait
      return { held: true }
    })
    const c = await server.client()
    const held = c.request('hold', {}, { ref: 0 })
    const pings = Array.from({ length: 20 }, (_v, n) => c.request('ping', {}, { ref: n + 1 }))
    // The heartbeat is answered at once: every request before it has arrived.
    await c.request('talk/ping', {}, { ref: 'arrived' })
    hold.open()
    expect(await held).toEqual({ status: 'success', ref: 0, held: true })
    expect(await Promise.all(pings.slice(0, 8))).toEqual(Array.from({ length: 8 }, (_v, n) => ({ status: 'success', ref: n + 1, pong: true })))
    // The refusals keep their place in the reply order, after the replies before them.
    expect(await Promise.all(pings.slice(8))).toEqual(Array.from({ length: 12 }, (_v, n) => ({
      status: 'error', ref: n + 9, error: { code: 'RATE_LIMITED', message: 'Too many requests waiting on this connection' },
    })))
  })

  it('closes a frame over maxPayload with 1009', async () => {
    await start({ maxPayload: 64 * 1024 })
    const c = await server.client()
    c.sendRaw(JSON.stringify({ command: 'echo', s: 'x'.repeat(70 * 1024) }))
    expect(await c.closed).toEqual({ code: CLOSE.TOO_BIG, reason: '' })
  })

  it('closes a message fragmented past maxPayload with 1009', async () => {
    await start({ maxPayload: 64 * 1024 })
    const { socket, frames } = await rawWebSocket(server.port)
    const chunk = 'x'.repeat(16 * 1024)
    socket.write(frame(0x1, `{"command":"echo","s":"${chunk}`, { fin: false }))
    for (let i = 0; i < 8; i++) socket.write(frame(0x0, chunk, { fin: false }))
    expect(await frames.closeCode()).toBe(CLOSE.TOO_BIG)
  })

  it.each([
    ['an unmasked client frame', () => frame(0x1, '{"command":"ping"}', { mask: false }), 1002],
    ['a reserved opcode', () => frame(0x3, 'x'), 1002],
    ['a ping with a 200-byte payload', () => frame(0x9, Buffer.alloc(200)), 1002],
    ['a continuation frame with nothing to continue', () => frame(0x0, 'x'), 1002],
    ['a text frame that is not UTF-8', () => frame(0x1, Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), 1007],
  ])('closes %s with its protocol close code', async (_label, make, code) => {
    await start()
    const { socket, frames } = await rawWebSocket(server.port, { path: `/?token=${SECRET}` })
    expect(JSON.parse((await frames.next())!.payload.toString())).toEqual({ command: 'welcome', client: expect.any(String), protocol: 1 })
    socket.write(make())
    expect(await frames.closeCode()).toBe(code)
  })

  it('terminates a peer that floods pings and never reads the pongs', async () => {
    const app = await start()
    const gone = new Promise<number>((resolve) => app.on('disconnect', (_c, code) => resolve(code)))
    const { socket } = await rawWebSocket(server.port)
    socket.pause()
    const ping = frame(0x9, Buffer.alloc(125, 1))
    const burst = Buffer.concat(Array.from({ length: 1000 }, () => ping))
    // Writes stop mattering once the server has cut the peer off.
    const writer = setInterval(() => socket.writable && socket.write(burst), 1)
    expect(await gone).toBe(1006)
    clearInterval(writer)
    socket.destroy()
  })

  it('terminates a half-open peer that stopped answering heartbeats', async () => {
    const app = await start({ heartbeatInterval: 50 })
    const gone = new Promise<number>((resolve) => app.on('disconnect', (_c, code) => resolve(code)))
    const { socket } = await rawWebSocket(server.port)
    // A raw socket answers no ping: as a peer whose network vanished.
    expect(await gone).toBe(1006)
    socket.destroy()
  })

  it('closes a stalled reader with 4900 once its unsent pushes pass the bound; the room goes on', async () => {
    // The speaker may need more requests than a rate limit allows before the kernel's buffers are full.
    const app = await start({ maxBufferedBytes: 1024 * 1024, rateLimit: false })
    app.route('room/join', (ctx) => ctx.join('room'))
    app.route('room/say', (ctx) => ctx.to('room').send('said', { n: ctx.body.n, text: 'x'.repeat(64 * 1024) }))
    const [stalled, reader, speaker] = await server.clients(3)
    for (const c of [stalled!, reader!]) await c.request('room/join')
    let closedCode: number | undefined
    app.on('disconnect', (client, code) => {
      if (client.id === stalled!.id) closedCode = code
    })
    stalled!.socket.pause()
    // Once the kernel's socket buffers are full, the stalled reader's unsent bytes grow past the bound.
    let n = 0
    while (closedCode === undefined) {
      expect(await speaker!.request('room/say', { n }, { ref: n })).toEqual({ status: 'success', ref: n })
      expect(await reader!.nextPush()).toEqual({ command: 'said', n, text: 'x'.repeat(64 * 1024) })
      n++
    }
    expect(closedCode).toBe(CLOSE.SLOW_CONSUMER)
    expect(await speaker!.request('room/say', { n }, { ref: n })).toEqual({ status: 'success', ref: n })
    expect(await reader!.nextPush()).toEqual({ command: 'said', n, text: 'x'.repeat(64 * 1024) })
  })

  it('skips droppable pushes for a stalled reader instead of closing it, and counts them', async () => {
    const app = await start({ maxBufferedBytes: 1024 * 1024, dropThreshold: 64 * 1024, metrics: { defaultMetrics: false } })
    app.route('room/join', (ctx) => ctx.join('room'))
    app.route('room/move', (ctx) => ctx.to('room').send('moved', { seq: ctx.body.seq, pad: 'p'.repeat(32 * 1024) }, { droppable: true }))
    const [stalled, reader, mover] = await server.clients(3)
    for (const c of [stalled!, reader!]) await c.request('room/join')
    stalled!.socket.pause()
    const count = 600
    for (let seq = 0; seq < count; seq++) await mover!.request('room/move', { seq })
    // The reader reads: it gets every push.
    for (let seq = 0; seq < count; seq++) expect((await reader!.nextPush()).seq).toBe(seq)
    const dropped = await counter(app, 'talk_pushes_dropped_total')
    expect(dropped.dropped).toBeGreaterThan(0)
    // The stalled reader was never closed; once it reads again it is served, having missed some pushes.
    stalled!.socket.resume()
    expect(await stalled!.request('ping', {}, { ref: 'back' })).toEqual({ status: 'success', ref: 'back', pong: true })
    const got = stalled!.pendingPushes.map((p) => p.seq as number)
    expect(got.length + dropped.dropped!).toBe(count)
    expect(got).toEqual([...got].sort((a, b) => a - b))
  })

  it('skips droppable pushes sent from outside a handler (app.to) for a stalled reader', async () => {
    const app = await start({ dropThreshold: 64 * 1024, metrics: { defaultMetrics: false } })
    app.route('room/join', (ctx) => ctx.join('room'))
    const [stalled] = await server.clients(1)
    await stalled!.request('room/join')
    stalled!.socket.pause()
    const pad = 'p'.repeat(32 * 1024)
    // A ticker: one push per event-loop turn, as from a timer.
    for (let seq = 0; seq < 2000 && ((await counter(app, 'talk_pushes_dropped_total')).dropped ?? 0) === 0; seq++) {
      app.to('room').send('tick', { seq, pad }, { droppable: true })
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect((await counter(app, 'talk_pushes_dropped_total')).dropped).toBeGreaterThan(0)
    stalled!.socket.resume()
    expect(await stalled!.request('ping', {}, { ref: 'back' })).toEqual({ status: 'success', ref: 'back', pong: true })
  })

  it('coalesces keyed pushes for a stalled reader: once it catches up it gets the latest', async () => {
    const app = await start({ dropThreshold: 64 * 1024, metrics: { defaultMetrics: false } })
    app.route('room/join', (ctx) => ctx.join('room'))
    app.route('cursor/move', (ctx) => ctx.to('room').send('cursor', { seq: ctx.body.seq, pad: 'p'.repeat(32 * 1024) }, { coalesce: 'cursor:mover' }))
    const [stalled, mover] = await server.clients(2)
    await stalled!.request('room/join')
    stalled!.socket.pause()
    const count = 600
    for (let seq = 0; seq < count; seq++) await mover!.request('cursor/move', { seq })
    expect((await counter(app, 'talk_pushes_dropped_total')).coalesced).toBeGreaterThan(0)
    stalled!.socket.resume()
    // Pushes arrive in order and the last one is the latest move, delivered when the reader caught up.
    let last = -1
    while (last !== count - 1) {
      const seq = (await stalled!.nextPush()).seq as number
      expect(seq).toBeGreaterThan(last)
      last = seq
    }
  })
})
