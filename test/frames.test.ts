import { talk } from '../index'
import { testServer, type TestServer } from '../lib/testing'
import { silent } from './helpers/seed-app'

// Talk frames its own text messages (lib/frames.ts): every length encoding and multi-byte text must
// reach a real ws client intact, in replies (framed per socket) and room pushes (framed once, shared).
describe('frames on the wire', () => {
  let server: TestServer
  afterEach(() => server.close())

  const texts = [0, 125, 126, 65535, 65536, 200_000].flatMap((n) => ['x'.repeat(n), 'é😀'.repeat(Math.ceil(n / 6))])

  it('delivers replies and shared room pushes of every length encoding, byte for byte', async () => {
    const app = talk({ logger: silent, maxPayload: 1024 * 1024 })
    app.route('join', (ctx) => ctx.join('room'))
    app.route('say', (ctx) => {
      const { text } = ctx.body as { text: string }
      ctx.to('room').send('said', { text }, { includeSelf: true })
      return { text }
    })
    server = await testServer(app)
    const [a, b, c] = await server.clients(3)
    for (const client of [a!, b!, c!]) await client.request('join')
    for (const text of texts) {
      expect(await a!.request('say', { text })).toEqual({ status: 'success', ref: expect.any(Number), text })
      for (const client of [a!, b!, c!]) expect(await client.nextPush()).toEqual({ command: 'said', text })
    }
  })
})
