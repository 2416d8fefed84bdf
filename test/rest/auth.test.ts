import { SignJWT } from 'jose'
import { auth, jwt, talk } from '../../index'
import { silent } from '../helpers/seed-app'
import { httpTestServer, type HttpTestServer } from './http-server'

const secret = 'a test secret that is at least 32 bytes long'
const sign = (claims: Record<string, unknown>, expiresIn = '1h') =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(expiresIn).sign(new TextEncoder().encode(secret))

describe('REST bridge with the bundled auth() and jwt()', () => {
  let server: HttpTestServer
  beforeEach(async () => {
    const app = talk({ logger: silent })
    app.use(auth({ from: ['header', 'cookie'], verify: jwt({ secret }) }))
    app.route('me/get', (ctx) => ({ user: ctx.client.user }))
    app.route('admin/stats', auth.require((user) => user.role === 'admin'), () => ({ clients: 0 }))
    server = await httpTestServer(app, { routes: { 'GET /me': 'me/get', 'GET /admin/stats': 'admin/stats' } })
  })
  afterEach(() => server.close())

  const error = (code: string, message: unknown) => ({ status: 'error', error: { code, message } })

  it('answers 401 without a token, with a bad one and with an expired one', async () => {
    const missing = await server.fetch('GET', '/me')
    expect([missing.status, missing.body]).toEqual([401, error('UNAUTHORIZED', 'Missing token')])
    const bad = await server.fetch('GET', '/me', { headers: { authorization: 'Bearer not-a-jwt' } })
    expect([bad.status, bad.body]).toEqual([401, error('UNAUTHORIZED', 'Invalid token')])
    const expired = await server.fetch('GET', '/me', { headers: { authorization: `Bearer ${await sign({ sub: 'u1' }, '-1s')}` } })
    expect([expired.status, expired.body]).toEqual([401, error('UNAUTHORIZED', 'Token expired')])
  })

  it('signs the request in from a header or a cookie, and the socket alike', async () => {
    const token = await sign({ sub: 'u1', role: 'user' })
    const byHeader = await server.fetch('GET', '/me', { headers: { authorization: `Bearer ${token}` } })
    expect(byHeader.status).toBe(200)
    expect(byHeader.body).toEqual({ status: 'success', user: { sub: 'u1', role: 'user', exp: expect.any(Number) } })
    const byCookie = await server.fetch('GET', '/me', { headers: { cookie: `token=${token}` } })
    expect(byCookie.body).toEqual(byHeader.body)

    const socket = await server.client({ headers: { authorization: `Bearer ${token}` } })
    const { ref: _ref, ...frame } = await socket.request('me/get')
    expect(frame).toEqual(byHeader.body)
  })

  it('answers 403 when auth.require() refuses the user', async () => {
    const user = await server.fetch('GET', '/admin/stats', { headers: { authorization: `Bearer ${await sign({ sub: 'u1', role: 'user' })}` } })
    expect([user.status, user.body]).toEqual([403, error('FORBIDDEN', expect.any(String))])
    const admin = await server.fetch('GET', '/admin/stats', { headers: { authorization: `Bearer ${await sign({ sub: 'u2', role: 'admin' })}` } })
    expect([admin.status, admin.body]).toEqual([200, { status: 'success', clients: 0 }])
  })
})
