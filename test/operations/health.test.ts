import { createServer } from 'node:http'
import { talk, type Adapter } from '../../index'
import { healthHandler } from '../../lib/health'
import { memoryAdapter } from '../../lib/adapters/memory'
import { testServer, type TestServer } from '../../lib/testing'
import { silent } from '../helpers/seed-app'
import { gate } from '../helpers/gate'
import { httpGet } from './http'

describe('health and readiness', () => {
  let server: TestServer
  afterEach(() => server.close())

  it('answers /healthz and /readyz with 200 while serving', async () => {
    server = await testServer(talk({ logger: silent, health: true }))
    await server.client()
    const live = await httpGet(server.port, '/healthz')
    expect({ status: live.status, body: JSON.parse(live.text) }).toEqual({ status: 200, body: { status: 'ok', draining: false } })
    const ready = await httpGet(server.port, '/readyz')
    expect({ status: ready.status, body: JSON.parse(ready.text) }).toEqual({
      status: 200, body: { status: 'ok', connections: 1, adapter: 'up', uptime: expect.any(Number) },
    })
  })

  it('answers /readyz with 503 (and /healthz with 200) while draining, until the last client is gone', async () => {
    const app = talk({ logger: silent, health: { readyPath: '/ready', livePath: '/live' } })
    const entered = gate()
    const released = gate()
    app.route('hold', () => {
      entered.open()
      return released.wait
    })
    server = await testServer(app)
    const c = await server.client()
    const held = c.request('hold')
    await entered.wait
    const closing = app.close()
    const ready = await httpGet(server.port, '/ready')
    expect({ status: ready.status, body: JSON.parse(ready.text) }).toEqual({
      status: 503, body: { status: 'draining', connections: 1, adapter: 'up', uptime: expect.any(Number) },
    })
    const live = await httpGet(server.port, '/live')
    expect({ status: live.status, body: JSON.parse(live.text) }).toEqual({ status: 200, body: { status: 'ok', draining: true } })
    expect(app.health().status).toBe('draining')
    released.open()
    expect(await held).toEqual({ status: 'success', ref: 1 })
    await closing
  })

  it('reports degraded (503) while the adapter says it cannot reach the other nodes', async () => {
    let connected = 1
    const adapter: Adapter & { stats(): Record<string, number> } = { ...memoryAdapter(), stats: () => ({ connected, subscribed: 1 }) }
    server = await testServer(talk({ logger: silent, adapter, health: true }))
    expect((await httpGet(server.port, '/readyz')).status).toBe(200)
    connected = 0
    const ready = await httpGet(server.port, '/readyz')
    expect({ status: ready.status, body: JSON.parse(ready.text) }).toEqual({
      status: 503, body: { status: 'degraded', connections: 0, adapter: 'down', uptime: expect.any(Number) },
    })
  })

  it('serves nothing on those paths when health is off, and mounts on a server of your own', async () => {
    server = await testServer(talk({ logger: silent }))
    expect((await httpGet(server.port, '/readyz')).status).toBe(426)
    const own = createServer(healthHandler(server.app, 'ready'))
    await new Promise<void>((resolve) => own.listen(0, '127.0.0.1', resolve))
    try {
      const res = await httpGet((own.address() as { port: number }).port, '/anything')
      expect(JSON.parse(res.text)).toEqual({ status: 'ok', connections: 0, adapter: 'up', uptime: expect.any(Number) })
    } finally {
      await new Promise((resolve) => own.close(resolve))
    }
  })
})
