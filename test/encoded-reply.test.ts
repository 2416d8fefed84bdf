import { z } from 'zod'
import { EncodedReply, legacy, talk, type TalkApp } from '../index'
import { encodeFrame } from '../lib/frames'
import { encodeSuccess, JSON_CODEC } from '../lib/protocol'
import { frameEncodedReply } from '../lib/reply-frames'
import { testServer, type TestServer } from '../lib/testing'
import { captureLog, type CapturedLog } from './middleware/helpers'
import { httpTestServer, type HttpTestServer } from './rest/http-server'

/** A payload that counts how often it is encoded (JSON.stringify calls its toJSON each time). */
function counted(fields: Record<string, unknown>): { payload: object; encodings: () => number } {
  let encodings = 0
  const payload = {
    ...fields,
    nested: {
      toJSON() {
        encodings++
        return { deep: true }
      },
    },
  }
  return { payload, encodings: () => encodings }
}

describe('encoded replies', () => {
  let server: TestServer
  let app: TalkApp
  let log: CapturedLog
  beforeEach(() => {
    log = captureLog('warn')
    app = talk({ logger: log.logger })
  })
  afterEach(() => server.close())

  it('sends the same frame as a plain reply, with each request\'s ref, and encodes the payload once', async () => {
    const { payload, encodings } = counted({ title: 'big', ref: 'not mine', status: 'not mine either' })
    const reply = new EncodedReply(payload)
    app.route('document/get', (ctx) => {
      ctx.reply(reply)
    })
    server = await testServer(app)
    const c = await server.client()
    const expected = { status: 'success', title: 'big', nested: { deep: true } }
    expect(await c.request('document/get')).toEqual({ ...expected, ref: 1 })
    expect(await c.request('document/get')).toEqual({ ...expected, ref: 2 })
    expect(await (await server.client()).request('document/get')).toEqual({ ...expected, ref: 1 })
    expect(encodings()).toBe(1)
  })

  it('checks the payload against the route\'s reply schema once, and sends the value it parsed', async () => {
    const Spec = { reply: z.object({ title: z.string(), nested: z.unknown() }) }
    let checks = 0
    const Counting = { reply: Spec.reply.refine(() => ++checks > 0) }
    const { payload } = counted({ title: 'big', secret: 'not for the wire' })
    const reply = new EncodedReply(payload as { title: string; nested: unknown })
    app.route('document/get', Counting, (ctx) => {
      ctx.reply(reply)
    })
    server = await testServer(app)
    const c = await server.client()
    expect(await c.request('document/get')).toEqual({ status: 'success', ref: 1, title: 'big', nested: { deep: true } })
    expect(await c.request('document/get')).toEqual({ status: 'success', ref: 2, title: 'big', nested: { deep: true } })
    expect(checks).toBe(1)
  })

  it('answers INTERNAL when an encoded reply does not match its schema, and the connection goes on', async () => {
    const reply = new EncodedReply({ sent: 'yes' } as unknown as { sent: boolean })
    app.route('message/send', { reply: z.object({ sent: z.boolean() }) }, (ctx) => {
      ctx.reply(reply)
    })
    app.route('fine', () => ({ ok: true }))
    server = await testServer(app)
    const c = await server.client()
    expect(await c.request('message/send')).toEqual({ status: 'error', ref: 1, error: { code: 'INTERNAL', message: 'Internal server error' } })
    expect(await c.request('fine')).toEqual({ status: 'success', ref: 2, ok: true })
    expect(log.lines.filter((l) => l.level === 50).map((l) => l.msg)).toEqual(["reply does not match the route's reply schema"])
  })
})

describe('an encoded reply framed in two chunks', () => {
  it.each([0, 100, 125, 126, 200, 65535, 65536, 140_000])('writes the same bytes as the whole reply framed at once (%i bytes of fields)', (size) => {
    const reply = new EncodedReply({ text: 'é'.repeat(size / 2) + 'x'.repeat(size % 2) })
    const { head, rest, text } = frameEncodedReply(reply, 7, JSON_CODEC, Infinity)
    expect(text).toBe(encodeSuccess(7, { text: 'é'.repeat(size / 2) + 'x'.repeat(size % 2) }))
    expect(Buffer.concat([head, rest]).equals(encodeFrame(text))).toBe(true)
    expect(frameEncodedReply(reply, 8, JSON_CODEC, Infinity).rest).toBe(rest)
  })

  it('throws PAYLOAD_TOO_LARGE past maxReplyBytes, counting UTF-8 bytes', () => {
    const reply = new EncodedReply({ text: 'é'.repeat(100) })
    const bytes = Buffer.byteLength(encodeSuccess(1, reply.value))
    expect(() => frameEncodedReply(reply, 1, JSON_CODEC, bytes - 1)).toThrow(expect.objectContaining({ code: 'PAYLOAD_TOO_LARGE' }))
    expect(frameEncodedReply(reply, 1, JSON_CODEC, bytes).rest.length).toBeGreaterThan(200)
  })
})

describe('encoded replies in a burst', () => {
  let server: TestServer
  afterEach(() => server.close())

  it('answers every one of 100 pipelined requests for a 140 KB encoded reply, then pings', async () => {
    const app = talk({ logger: captureLog('warn').logger })
    const reply = new EncodedReply({ text: 'x'.repeat(140_000) })
    app.route('big/get', async (ctx) => {
      await Promise.resolve()
      ctx.reply(reply)
    })
    server = await testServer(app)
    const c = await server.client()
    const replies = await Promise.all(Array.from({ length: 100 }, () => c.request('big/get')))
    expect(replies.map((r) => r.status)).toEqual(Array(100).fill('success'))
    expect(await c.request('talk/ping')).toEqual({ status: 'success', ref: 101 })
  })
})

describe('encoded replies over the REST bridge', () => {
  let http: HttpTestServer
  afterEach(() => http.close())

  function app(): TalkApp {
    const made = talk({ logger: captureLog('warn').logger })
    const reply = new EncodedReply({ title: 'big', items: [1, 2] })
    made.route('document/get', (ctx) => {
      ctx.reply(reply)
    })
    return made
  }

  it('answers with the same JSON body as a plain reply', async () => {
    http = await httpTestServer(app(), { routes: { 'GET /document': 'document/get' } })
    const res = await http.fetch('GET', '/document')
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ status: 'success', title: 'big', items: [1, 2] })
  })

  it('hands a respond shape the payload, not the wrapper', async () => {
    http = await httpTestServer(app(), { routes: { 'GET /document': 'document/get' }, respond: legacy({ field: 'items' }) })
    const res = await http.fetch('GET', '/document')
    expect(res.status).toBe(200)
    expect(res.body).toEqual([1, 2])
  })
})
