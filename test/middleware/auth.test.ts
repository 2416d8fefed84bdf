import { generateKeyPairSync } from 'node:crypto'
import { exportJWK, SignJWT, type JWTPayload } from 'jose'
import { auth, jwt, logger, talk, TalkError, type TalkApp, type User } from '../../index'
import { testServer, type TestServer } from '../../lib/testing'
import { silent } from '../helpers/seed-app'
import { captureLog, upgrade } from './helpers'

const SECRET = 'a-test-secret-that-is-32-bytes-long!'
const key = new TextEncoder().encode(SECRET)

/** Signs an HS256 token; `expiresIn` in seconds (fractions allowed: the expiry tests use a few hundred ms). */
function sign(claims: JWTPayload, expiresIn?: number, secret: Uint8Array = key): Promise<string> {
  const token = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt()
  if (expiresIn !== undefined) token.setExpirationTime(Date.now() / 1000 + expiresIn)
  return token.sign(secret)
}

/** A verifier for fixed opaque tokens: `good-<name>` is user <name>. */
function opaque(token: string): { user: User } | undefined {
  return token.startsWith('good-') ? { user: { id: token.slice(5) } } : undefined
}

describe('auth', () => {
  let app: TalkApp
  let server: TestServer
  beforeEach(() => {
    app = talk({ logger: silent })
  })
  afterEach(async () => {
    jest.restoreAllMocks()
    await server?.close()
  })

  function routes(): void {
    app.route('me', (ctx) => ({ user: ctx.client.user ?? null }))
    app.route('secret', auth.require(), () => ({ secret: 42 }))
    app.route('admin', auth.require((user) => user.id === 'root'), () => ({ admin: true }))
    app.route('slow-admin', auth.require(async (user) => Promise.resolve(user.id === 'root')), () => ({ admin: true }))
  }

  describe('at the handshake', () => {
    it('sets client.user from a bearer token in the Authorization header', async () => {
      app.use(auth({ verify: opaque }))
      routes()
      server = await testServer(app)
      const client = await server.client({ headers: { Authorization: 'Bearer good-ada' } })
      expect(await client.request('me')).toEqual({ status: 'success', ref: 1, user: { id: 'ada' } })
      expect(await client.request('secret')).toEqual({ status: 'success', ref: 2, secret: 42 })
    })

    it('refuses with 401 when the token is missing, invalid, or under another scheme', async () => {
      app.use(auth({ verify: opaque }))
      routes()
      server = await testServer(app)
      const refused = (message: string) => ({ status: 401, upgraded: false, body: { status: 'error', error: { code: 'UNAUTHORIZED', message } } })
      expect(await upgrade(server.port)).toEqual(refused('Missing token'))
      expect(await upgrade(server.port, '/', { Authorization: 'Bearer bad' })).toEqual(refused('Invalid token'))
      expect(await upgrade(server.port, '/', { Authorization: 'Basic Z29vZC1hZGE=' })).toEqual(refused('Missing token'))
      expect(await upgrade(server.port, '/', { Authorization: 'Bearer good-ada' })).toEqual({ status: 101, upgraded: true, body: undefined })
    })

    it('reads the token from a cookie, a query parameter, a subprotocol entry or a function, in the order given', async () => {
      app.use(auth({ from: ['cookie', 'query', 'protocol', (info) => info.headers['x-api-key'] as string | undefined], verify: opaque }))
      routes()
      server = await testServer(app)
      const byCookie = await server.client({ headers: { Cookie: 'other=1; token=good-cookie' } })
      const byQuery = await server.client({ query: 'token=good-query' })
      const byProtocol = await server.client({ protocols: ['talk', 'bearer.good-protocol'] })
      const byFunction = await server.client({ headers: { 'X-Api-Key': 'good-function' } })
      const both = await server.client({ headers: { Cookie: 'token=good-first' }, query: 'token=good-second' })
      expect(await byCookie.request('me')).toEqual({ status: 'success', ref: 1, user: { id: 'cookie' } })
      expect(await byQuery.request('me')).toEqual({ status: 'success', ref: 1, user: { id: 'query' } })
      expect(await byProtocol.request('me')).toEqual({ status: 'success', ref: 1, user: { id: 'protocol' } })
      expect(byProtocol.socket.protocol).toBe('talk')
      expect(await byFunction.request('me')).toEqual({ status: 'success', ref: 1, user: { id: 'function' } })
      expect(await both.request('me')).toEqual({ status: 'success', ref: 1, user: { id: 'first' } })
    })

    it('uses `name` for the header, cookie or query parameter', async () => {
      app.use(auth({ from: ['header', 'query'], name: 'x-token', verify: opaque }))
      routes()
      server = await testServer(app)
      const byHeader = await server.client({ headers: { 'X-Token': 'good-header' } })
      const byQuery = await server.client({ query: 'x-token=good-query' })
      expect(await byHeader.request('me')).toEqual({ status: 'success', ref: 1, user: { id: 'header' } })
      expect(await byQuery.request('me')).toEqual({ status: 'success', ref: 1, user: { id: 'query' } })
      expect((await upgrade(server.port, '/?token=good-query')).status).toBe(401)
    })

    it('refuses with the status of a TalkError the verifier throws, and with 500 without details for a crash', async () => {
      const log = captureLog()
      app = talk({ logger: log.logger })
      app.use(auth({
        verify: (token) => {
          if (token === 'banned') throw new TalkError('FORBIDDEN', 'Account suspended')
          if (token === 'crash') throw new Error('database down')
          return opaque(token)
        },
      }))
      routes()
      server = await testServer(app)
      expect(await upgrade(server.port, '/', { Authorization: 'Bearer banned' })).toEqual({
        status: 403, upgraded: false, body: { status: 'error', error: { code: 'FORBIDDEN', message: 'Account suspended' } },
      })
      expect(await upgrade(server.port, '/', { Authorization: 'Bearer crash' })).toEqual({
        status: 500, upgraded: false, body: { status: 'error', error: { code: 'INTERNAL', message: 'Internal server error' } },
      })
      expect(log.lines.some((l) => l.msg === 'handshake hook failed')).toBe(true)
    })

    it('lets anonymous connections in with `optional`, still refusing a bad token', async () => {
      app.use(auth({ verify: opaque, optional: true }))
      routes()
      server = await testServer(app)
      const anonymous = await server.client()
      expect(await anonymous.request('me')).toEqual({ status: 'success', ref: 1, user: null })
      expect(await anonymous.request('secret')).toEqual({ status: 'error', ref: 2, error: { code: 'UNAUTHORIZED', message: 'Sign in first' } })
      expect(await anonymous.request('me')).toEqual({ status: 'success', ref: 3, user: null })
      expect((await upgrade(server.port, '/', { Authorization: 'Bearer bad' })).status).toBe(401)
    })
  })

  describe('auth.require', () => {
    it('answers FORBIDDEN when the predicate (sync or async) says no, and the connection goes on', async () => {
      app.use(auth({ verify: opaque }))
      routes()
      server = await testServer(app)
      const ada = await server.client({ headers: { Authorization: 'Bearer good-ada' } })
      const root = await server.client({ headers: { Authorization: 'Bearer good-root' } })
      const forbidden = { code: 'FORBIDDEN', message: 'Not allowed' }
      expect(await ada.request('admin')).toEqual({ status: 'error', ref: 1, error: forbidden })
      expect(await ada.request('slow-admin')).toEqual({ status: 'error', ref: 2, error: forbidden })
      expect(await ada.request('secret')).toEqual({ status: 'success', ref: 3, secret: 42 })
      expect(await root.request('admin')).toEqual({ status: 'success', ref: 1, admin: true })
      expect(await root.request('slow-admin')).toEqual({ status: 'success', ref: 2, admin: true })
    })

    it('checks its options at start-up', () => {
      expect(() => auth.require('admin' as never)).toThrow(TypeError)
      expect(() => auth({} as never)).toThrow(TypeError)
      expect(() => auth({ verify: opaque, from: 'body' as never })).toThrow(TypeError)
      expect(() => auth({ verify: opaque, from: [] })).toThrow(TypeError)
      expect(() => auth({ verify: opaque, refresh: '' })).toThrow(TypeError)
    })
  })

  describe('with jwt()', () => {
    it('accepts an HS256 token and refuses a forged, expired or malformed one', async () => {
      app.use(auth({ verify: jwt({ secret: SECRET }) }))
      routes()
      server = await testServer(app)
      const good = await sign({ sub: 'ada', role: 'editor' }, 60)
      const client = await server.client({ headers: { Authorization: `Bearer ${good}` } })
      expect(await client.request('me')).toEqual({
        status: 'success', ref: 1, user: { sub: 'ada', role: 'editor', iat: expect.any(Number), exp: expect.any(Number) },
      })
      const forged = await sign({ sub: 'ada' }, 60, new TextEncoder().encode('another-secret-of-32-bytes-or-more!!'))
      const expired = await sign({ sub: 'ada' }, -10)
      const error = (message: string) => ({ status: 401, upgraded: false, body: { status: 'error', error: { code: 'UNAUTHORIZED', message } } })
      expect(await upgrade(server.port, '/', { Authorization: `Bearer ${forged}` })).toEqual(error('Invalid token'))
      expect(await upgrade(server.port, '/', { Authorization: `Bearer ${expired}` })).toEqual(error('Token expired'))
      expect(await upgrade(server.port, '/', { Authorization: 'Bearer not.a.jwt' })).toEqual(error('Invalid token'))
      const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"ada"}').toString('base64url')}.`
      expect(await upgrade(server.port, '/', { Authorization: `Bearer ${unsigned}` })).toEqual(error('Invalid token'))
    })

    it('verifies with a public key or a local JWKS, checking issuer and audience', async () => {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }
      const signEs = (claims: JWTPayload, kid = 'k1') =>
        new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid }).setIssuer('talk-tests').setAudience('talk').setExpirationTime('1h').sign(privateKey)
      const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
      const byPem = talk({ logger: silent }).use(auth({ verify: jwt({ publicKey: pem, algorithms: ['ES256'], issuer: 'talk-tests', audience: 'talk' }) }))
      byPem.route('me', (ctx) => ({ sub: ctx.client.user?.sub }))
      app.use(auth({ verify: jwt({ jwks: { keys: [jwk] }, issuer: 'talk-tests', audience: 'talk', user: (p) => ({ id: p.sub }) }) }))
      routes()
      server = await testServer(app)
      const pemServer = await testServer(byPem)
      try {
        const token = await signEs({ sub: 'ada' })
        const viaJwks = await server.client({ headers: { Authorization: `Bearer ${token}` } })
        expect(await viaJwks.request('me')).toEqual({ status: 'success', ref: 1, user: { id: 'ada' } })
        const viaPem = await pemServer.client({ headers: { Authorization: `Bearer ${token}` } })
        expect(await viaPem.request('me')).toEqual({ status: 'success', ref: 1, sub: 'ada' })
        expect((await upgrade(server.port, '/', { Authorization: `Bearer ${await signEs({ sub: 'ada' }, 'unknown-kid')}` })).status).toBe(401)
        const wrongAudience = await new SignJWT({ sub: 'ada' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('talk-tests').setAudience('elsewhere').sign(privateKey)
        expect((await upgrade(server.port, '/', { Authorization: `Bearer ${wrongAudience}` })).status).toBe(401)
        // An HS256 token must not pass as an asymmetric one.
        expect((await upgrade(server.port, '/', { Authorization: `Bearer ${await sign({ sub: 'ada' }, 60)}` })).status).toBe(401)
      } finally {
        await pemServer.close()
      }
    })

    it('checks its options at start-up', () => {
      expect(() => jwt({})).toThrow(TypeError)
      expect(() => jwt({ secret: 'short' })).toThrow('at least 32 bytes')
      expect(() => jwt({ secret: SECRET, jwks: { keys: [] } })).toThrow(TypeError)
      expect(() => jwt({ publicKey: 'not a key' })).toThrow(TypeError)
    })
  })

  describe('expiry and refresh', () => {
    it('closes the connection with 1008 when its token expires', async () => {
      app.use(auth({ verify: jwt({ secret: SECRET }) }))
      routes()
      server = await testServer(app)
      const client = await server.client({ headers: { Authorization: `Bearer ${await sign({ sub: 'ada' }, 0.3)}` } })
      expect(await client.request('secret')).toEqual({ status: 'success', ref: 1, secret: 42 })
      expect(await client.closed).toEqual({ code: 1008, reason: 'token expired' })
    })

    it('keeps a connection whose client sent a fresh token to auth/refresh in time', async () => {
      app.use(auth({ verify: jwt({ secret: SECRET }) }))
      routes()
      server = await testServer(app)
      const short = await sign({ sub: 'ada' }, 0.5)
      const refreshed = await server.client({ headers: { Authorization: `Bearer ${short}` } })
      // A second connection with the same token and no refresh: its close marks the old expiry.
      const witness = await server.client({ headers: { Authorization: `Bearer ${short}` } })
      const fresh = await sign({ sub: 'ada' }, 60)
      const reply = await refreshed.request('auth/refresh', { token: fresh })
      expect(reply).toEqual({ status: 'success', ref: 1, expiresAt: expect.any(Number) })
      expect(reply.expiresAt as number).toBeGreaterThan(Date.now() + 30_000)
      expect(await witness.closed).toEqual({ code: 1008, reason: 'token expired' })
      expect(await refreshed.request('secret')).toEqual({ status: 'success', ref: 2, secret: 42 })
    })

    it('refuses a bad refresh, or one for another user, and keeps the connection and its user', async () => {
      app.use(auth({ verify: jwt({ secret: SECRET }) }))
      routes()
      server = await testServer(app)
      const client = await server.client({ headers: { Authorization: `Bearer ${await sign({ sub: 'ada' }, 60)}` } })
      expect(await client.request('auth/refresh', { token: 'garbage' })).toEqual({
        status: 'error', ref: 1, error: { code: 'UNAUTHORIZED', message: 'Invalid token' },
      })
      expect(await client.request('auth/refresh', { token: await sign({ sub: 'eve' }, 60) })).toEqual({
        status: 'error', ref: 2, error: { code: 'FORBIDDEN', message: "The token names another user than this connection's" },
      })
      expect(await client.request('auth/refresh', { token: await sign({ sub: 'ada' }, -5) })).toEqual({
        status: 'error', ref: 3, error: { code: 'UNAUTHORIZED', message: 'Token expired' },
      })
      expect(await client.request('auth/refresh', {})).toEqual({
        status: 'error', ref: 4, error: { code: 'VALIDATION_FAILED', message: 'Request body is invalid', details: expect.any(Array) },
      })
      expect(await client.request('me')).toEqual({ status: 'success', ref: 5, user: expect.objectContaining({ sub: 'ada' }) })
    })

    it('lets an anonymous connection sign in through auth/refresh', async () => {
      app.use(auth({ verify: opaque, optional: true }))
      routes()
      server = await testServer(app)
      const client = await server.client()
      expect(await client.request('secret')).toEqual({ status: 'error', ref: 1, error: { code: 'UNAUTHORIZED', message: 'Sign in first' } })
      expect(await client.request('auth/refresh', { token: 'good-ada' })).toEqual({ status: 'success', ref: 2 })
      expect(await client.request('secret')).toEqual({ status: 'success', ref: 3, secret: 42 })
    })

    it('answers UNAUTHORIZED and closes with 1008 when a message arrives after the expiry but before the timer', async () => {
      app.use(auth({ verify: jwt({ secret: SECRET }) }))
      routes()
      server = await testServer(app)
      const client = await server.client({ headers: { Authorization: `Bearer ${await sign({ sub: 'ada' }, 60)}` } })
      const now = Date.now()
      jest.spyOn(Date, 'now').mockReturnValue(now + 120_000)
      expect(await client.request('secret')).toEqual({ status: 'error', ref: 1, error: { code: 'UNAUTHORIZED', message: 'Token expired' } })
      expect(await client.closed).toEqual({ code: 1008, reason: 'token expired' })
    })

    it('adds no route with refresh: false', async () => {
      app.use(auth({ verify: opaque, refresh: false }))
      server = await testServer(app)
      const client = await server.client({ headers: { Authorization: 'Bearer good-ada' } })
      expect(await client.request('auth/refresh', { token: 'good-ada' })).toEqual({
        status: 'error', ref: 1, error: { code: 'NOT_FOUND', message: 'Unknown route "auth/refresh"' },
      })
    })
  })

  it('never writes a token to the logs', async () => {
    const log = captureLog('trace')
    app = talk({ logger: log.logger })
    app.use(logger({ body: true }))
    app.use(auth({ from: ['header', 'query', 'cookie'], verify: jwt({ secret: SECRET }) }))
    routes()
    server = await testServer(app)
    const tokens = [await sign({ sub: 'ada' }, 60), await sign({ sub: 'bob' }, 60), await sign({ sub: 'cy' }, 60), await sign({ sub: 'ada' }, 120)]
    const [header, query, cookie, refresh] = tokens as [string, string, string, string]
    const a = await server.client({ headers: { Authorization: `Bearer ${header}` } })
    const b = await server.client({ query: `token=${query}` })
    const c = await server.client({ headers: { Cookie: `token=${cookie}` } })
    await a.request('auth/refresh', { token: refresh })
    await b.request('auth/refresh', { token: 'forged' })
    await c.request('me')
    await upgrade(server.port, `/?token=${query}x`)
    await server.close()
    expect(log.lines.filter((l) => l.msg === 'request')).toHaveLength(3)
    expect(log.lines.filter((l) => l.msg === 'connection open')).toHaveLength(3)
    const text = log.text()
    for (const token of [...tokens, 'forged']) expect(text).not.toContain(token)
    for (const token of tokens) expect(text).not.toContain(token.split('.')[2])
  })
})
