import { createServer } from 'node:http'
import express from 'express'
import { talk, type TalkApp } from '../index'
import { testServer, TestClient, type TestServer } from '../lib/testing'
import { silent } from './helpers/seed-app'
import { gate } from './helpers/gate'

describe('graceful close', () => {
  let app: TalkApp
  let server: TestServer
  beforeEach(() => {
    app = talk({ logger: silent, closeTimeout: 2000 })
  })

  it('finishes an in-flight slow handler, answers later requests UNAVAILABLE, then closes with 1001', async () => {
    const entered = gate()
    app.route('slow', async () => {
      entered.open()
      await new Promise((resolve) => setTimeout(resolve, 100))
      return { finished: true }
    })
    app.route('fast', () => ({ fast: true }))
    server = await testServer(app)
    const c = await server.client()
    const slow = c.request('slow')
    await entered.wait
    const closing = app.close()
    const late = c.request('fast')
    expect(await slow).toEqual({ status: 'success', ref: 1, finished: true })
    expect(await late).toEqual({ status: 'error', ref: 2, error: { code: 'UNAVAILABLE', message: 'Server is shutting down' } })
    expect(await c.closed).toEqual({ code: 1001, reason: 'server shutting down' })
    await closing
    await expect(TestClient.connect(server.url)).rejects.toThrow()
  })

  it('runs requests already queued before the close, in order', async () => {
    app.route('step', async (ctx) => {
      await new Promise((resolve) => setTimeout(resolve, 20))
      return { n: ctx.body.n }
    })
    server = await testServer(app)
    const c = await server.client()
    const replies = [1, 2, 3].map((n) => c.request('step', { n }))
    await new Promise((resolve) => setTimeout(resolve, 5))
    const closing = app.close()
    expect(await Promise.all(replies)).toEqual([1, 2, 3].map((n, i) => ({ status: 'success', ref: i + 1, n })))
    await closing
    expect((await c.closed).code).toBe(1001)
  })

  it('closes sockets after closeTimeout when a handler never finishes', async () => {
    app = talk({ logger: silent, closeTimeout: 50 })
    app.route('hang', () => new Promise(() => undefined))
    server = await testServer(app)
    const c = await server.client()
    void c.request('hang').catch(() => undefined)
    await new Promise((resolve) => setTimeout(resolve, 10))
    await app.close()
    expect((await c.closed).code).toBe(1001)
  })

  it('is idempotent: close() twice resolves the same drain', async () => {
    server = await testServer(app)
    await server.client()
    const first = app.close()
    const second = app.close()
    expect(second).toBe(first)
    await first
  })
})

describe('attach to an existing HTTP server', () => {
  it('serves an Express app and Talk on one port, Talk only on its path', async () => {
    const web = express()
    web.get('/health', (_req, res) => void res.json({ ok: true }))
    const http = createServer(web)
    const app = talk({ logger: silent })
    app.route('ping', () => ({ pong: true }))
    app.attach(http, { path: '/talk' })
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    const port = (http.address() as { port: number }).port
    try {
      expect(await (await fetch(`http://127.0.0.1:${port}/health`)).json()).toEqual({ ok: true })
      const c = await TestClient.connect(`ws://127.0.0.1:${port}/talk`)
      expect(await c.request('ping')).toEqual({ status: 'success', ref: 1, pong: true })
      await expect(TestClient.connect(`ws://127.0.0.1:${port}/elsewhere`)).rejects.toThrow('HTTP 404')
      await app.close()
      expect((await c.closed).code).toBe(1001)
    } finally {
      await new Promise((resolve) => http.close(resolve))
    }
  })
})
