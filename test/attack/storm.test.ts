import { talk } from '../../index'
import { connect, type TalkClient } from '../../lib/client'
import { captureLog, upgrade } from '../middleware/helpers'
import { serve, type Served } from '../client/helpers'

const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe('a reconnect storm against a cap on handshakes in flight', () => {
  let served: Served | undefined
  const clients: TalkClient[] = []
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await served?.close()
    served = undefined
  })

  it('answers 503 UNAVAILABLE past the cap, while the handshakes in flight finish', async () => {
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    let entered = 0
    let bothIn!: () => void
    const bothWaiting = new Promise<void>((resolve) => (bothIn = resolve))
    const app = talk({ logger: captureLog('warn').logger, maxHandshakes: 2 })
    app.handshake(() => {
      if (++entered === 2) bothIn()
      return held
    })
    served = await serve(app)
    const port = served.port
    // Two upgrades wait in their hook; the third is over the cap.
    const first = upgrade(port)
    const second = upgrade(port)
    await bothWaiting
    expect(await upgrade(port)).toEqual({
      status: 503, upgraded: false,
      body: { status: 'error', error: { code: 'UNAVAILABLE', message: 'Too many connections are being set up: retry shortly' } },
    })
    release()
    expect(await first).toEqual({ status: 101, body: undefined, upgraded: true })
    expect(await second).toEqual({ status: 101, body: undefined, upgraded: true })
    // Room again once they are through.
    expect((await upgrade(port)).status).toBe(101)
  })

  it('lets every client of a dropped node back in, refused ones retrying after Retry-After', async () => {
    const log = captureLog('debug')
    const app = talk({ logger: log.logger, maxHandshakes: 3 })
    // A verifier that takes a while, as a database look-up would.
    app.handshake(() => wait(15))
    app.route('echo', (ctx) => ({ body: ctx.body }))
    served = await serve(app)
    for (let i = 0; i < 30; i++) {
      // Connected one at a time: the storm is the reconnection, not this.
      clients.push(await connect(served.url, { heartbeat: false, reconnect: { initialDelay: 5, maxDelay: 100 } }))
    }
    const back = Promise.all(clients.map((c) => new Promise((resolve) => c.once('reconnected', resolve))))
    // Every socket cut at once, as when a node's network blips: all thirty come back together.
    for (const connection of app.clients.values()) connection.socket.terminate()
    await back
    expect(app.clients.size).toBe(30)
    const refused = log.lines.filter((l) => l.msg === 'upgrade refused' && l.code === 'UNAVAILABLE')
    expect(refused.length).toBeGreaterThan(0)
    // Everyone is served again.
    const answers = await Promise.all(clients.map((c, i) => c.request('echo', { i })))
    expect(answers).toEqual(clients.map((_c, i) => ({ body: { i } })))
  })
})
