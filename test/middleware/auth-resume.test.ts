import { SignJWT } from 'jose'
import { auth, jwt, talk, CLOSE } from '../../index'
import { testServer, type TestServer } from '../../lib/testing'
import { silent } from '../helpers/seed-app'

const SECRET = 'a-test-secret-that-is-32-bytes-long!'

describe('auth with resume', () => {
  let server: TestServer
  afterEach(() => server.close())

  it('closes an idle resumed connection with 1008 when its token expires', async () => {
    const app = talk({ logger: silent, resume: true })
    app.use(auth({ verify: jwt({ secret: SECRET }), from: 'query' }))
    app.route('me', (ctx) => ({ user: ctx.client.user ?? null }))
    server = await testServer(app)
    const token = await new SignJWT({ sub: 'ada' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Date.now() / 1000 + 0.8)
      .sign(new TextEncoder().encode(SECRET))

    const first = await server.client({ query: `token=${token}` })
    expect(first.welcome).toEqual({ command: 'welcome', client: expect.any(String), protocol: 1, resume: expect.any(String) })
    // The link dies without a goodbye: the server parks the session.
    app.clients.get(first.id)?.socket.terminate()
    await first.closed

    const resumed = await server.client({ query: `token=${token}&talk-resume=${String(first.welcome.resume)}&talk-seen=0` })
    expect(resumed.welcome).toEqual({ command: 'welcome', client: first.id, protocol: 1, resume: expect.any(String), resumed: true })
    // Idle from here on: only the expiry timer armed on resume can close it.
    expect(await resumed.closed).toEqual({ code: CLOSE.POLICY, reason: 'token expired' })
  })
})
