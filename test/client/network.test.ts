import type { TalkApp } from '../../lib'
import { connect, type TalkClient } from '../../lib/client'
import { testServer, type TestServer } from '../../lib/testing'
import { seedApp } from '../helpers/seed-app'
import { clientEvent, proxy, type Proxy } from './helpers'

describe('following the network (what the browser client does on offline, online and visibility)', () => {
  let server: TestServer
  let app: TalkApp
  let relay: Proxy | undefined
  const clients: TalkClient[] = []
  beforeEach(async () => {
    app = seedApp({ resume: true, closeTimeout: 100 })
    server = await testServer(app)
  })
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await server.close()
    await relay?.close()
    relay = undefined
  })

  it('probe() notices a silent link at once, without waiting for the heartbeat', async () => {
    relay = await proxy(server.port)
    // A heartbeat this slow would take a minute; the probe takes its own timeout.
    const client = await connect(`${relay.url}?user=ann`, { heartbeat: { interval: 60_000, timeout: 60_000 }, reconnect: { initialDelay: 5, maxDelay: 20 } })
    clients.push(client)
    const closed = clientEvent(client, 'close')
    relay.blackhole()
    client.probe(50)
    expect(await closed).toEqual({ code: 1006, reason: 'no answer to a probe', willReconnect: true })
  })

  it('probe() on a live link changes nothing', async () => {
    const client = await connect(`${server.url}?user=ann`, { heartbeat: false })
    clients.push(client)
    let closes = 0
    client.on('close', () => closes++)
    client.probe(50)
    // A request after the probe's deadline shows the link stayed up.
    await new Promise((resolve) => setTimeout(resolve, 80))
    expect(await client.request('document/create', { id: 'still-up' })).toEqual({})
    expect(closes).toBe(0)
  })

  it('networkLost() counts the connection lost at once and waits for networkBack() to reconnect, resumed', async () => {
    const client = await connect(`${server.url}?user=ann`, { heartbeat: false, reconnect: { initialDelay: 5, maxDelay: 20 } })
    clients.push(client)
    const id = client.id
    const closed = clientEvent(client, 'close')
    let reconnecting = 0
    client.on('reconnecting', () => reconnecting++)
    client.networkLost()
    expect(await closed).toEqual({ code: 1006, reason: 'network offline', willReconnect: true })
    expect(client.connected).toBe(false)
    // Requests made offline wait in the queue.
    const queued = client.request('document/create', { id: 'made-offline' })
    const back = clientEvent(client, 'reconnected')
    client.networkBack()
    expect(await back).toEqual({ client: id, resumed: true })
    expect(await queued).toEqual({})
    expect(reconnecting).toBe(0)
  })
})
