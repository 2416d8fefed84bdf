import { Router, talk, type TalkApp } from '../index'
import { testServer, type TestServer } from '../lib/testing'
import { captureLog } from './middleware/helpers'
import { silent } from './helpers/seed-app'

describe('app-wide helpers', () => {
  let server: TestServer | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  it('app.broadcast() pushes to every connected client, in a room or not', async () => {
    const app: TalkApp = talk({ logger: silent })
    app.route('room/join', (ctx) => ctx.join('lobby'))
    server = await testServer(app)
    const [a, b, c] = await server.clients(3)
    await a?.request('room/join')
    app.broadcast('notice:maintenance', { at: '22:00' })
    for (const client of [a, b, c]) {
      expect(await client?.nextPush()).toEqual({ command: 'notice:maintenance', at: '22:00' })
    }
  })

  it('lists the rooms with members on this node (app.rooms.names())', async () => {
    const app = talk({ logger: silent })
    app.route('room/join', (ctx) => ctx.join(String(ctx.body.room)))
    server = await testServer(app)
    const [a, b] = await server.clients(2)
    await a?.request('room/join', { room: 'document/1' })
    await b?.request('room/join', { room: 'document/2' })
    expect([...app.rooms.names()].sort()).toEqual(['document/1', 'document/2'])
  })

  it.each(['talk/mine', 'talk:mine', 'talk'])('refuses a route named %s at start-up: talk/ is reserved', (name) => {
    const app = talk({ logger: silent })
    expect(() => app.route(name, () => undefined)).toThrow(new TypeError(`Route "${name.replace(':', '/')}": names under "talk/" are reserved for Talk`))
  })

  it('refuses a router mounted under talk/ at start-up', () => {
    const app = talk({ logger: silent })
    const router = new Router().route('mine', () => undefined)
    expect(() => app.use('talk', router)).toThrow(TypeError)
    // A router of its own may use any name; it is the app's names that are checked.
    expect(() => new Router().route('talk/mine', () => undefined)).not.toThrow()
  })

  it('logs one start-up line with its URL when it listens, with no logger() middleware', async () => {
    const log = captureLog('info')
    const app = talk({ logger: log.logger })
    app.route('a', () => undefined)
    server = await testServer(app)
    expect(log.lines.map(({ msg, url, routes }) => ({ msg, url, routes }))).toEqual([
      { msg: 'talk listening', url: server.url, routes: 1 },
    ])
  })
})
