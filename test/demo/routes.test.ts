import { SignJWT } from 'jose'
import WebSocket from 'ws'
import { auth, jwt } from 'talk'
import { TestClient } from 'talk/testing'
import { MAX_DATA_BYTES, MAX_FIELDS, MAX_NODES } from '../../examples/documents/model'
import { documentsApp } from '../../examples/documents/app'
import { Demo } from './demo-server'

/** An error reply frame as the demo sends it. */
function error(ref: number, code: string, message: string | ReturnType<typeof expect.any>, details?: unknown): object {
  return { status: 'error', ref, error: details === undefined ? { code, message } : { code, message, details } }
}

/** VALIDATION_FAILED with one issue at `path` of zod code `code`. */
function invalid(ref: number, path: (string | number)[], code: string): object {
  return error(ref, 'VALIDATION_FAILED', 'Request body is invalid', [{ path, message: expect.any(String), code }])
}

describe('the documents demo routes', () => {
  let demo: Demo
  let a: TestClient
  let b: TestClient
  beforeEach(async () => {
    demo = await Demo.start({ maxDocuments: 3 })
    a = await demo.client('ann')
    b = await demo.client('bob')
  })
  afterEach(() => demo.close())

  describe('document:create', () => {
    it('answers CONFLICT for a name that exists, and the connection goes on', async () => {
      expect(await a.request('document:create', { id: 'groceries' })).toEqual({ status: 'success', ref: 1 })
      expect(await b.request('document:create', { id: 'groceries' })).toEqual(error(1, 'CONFLICT', 'Document groceries exists'))
      expect(await b.request('document:get', { id: 'groceries' })).toMatchObject({ status: 'success', 'active-users': ['ann', 'bob'] })
    })

    it('trims the name, and answers VALIDATION_FAILED for a missing, empty, long, control-character or extra field', async () => {
      expect(await a.request('document:create', {})).toEqual(invalid(1, ['id'], 'invalid_type'))
      expect(await a.request('document:create', { id: '   ' })).toEqual(invalid(2, ['id'], 'too_small'))
      expect(await a.request('document:create', { id: 'x'.repeat(65) })).toEqual(invalid(3, ['id'], 'too_big'))
      expect(await a.request('document:create', { id: 'a\nb' })).toEqual(invalid(4, ['id'], 'invalid_format'))
      expect(await a.request('document:create', { id: 'ok', owner: 'me' })).toEqual(invalid(5, [], 'unrecognized_keys'))
      expect(await a.request('document:create', { id: '  Shopping list ' })).toEqual({ status: 'success', ref: 6 })
      expect(await a.request('document:list', {})).toEqual({
        status: 'success', ref: 7, documents: [{ id: 'Shopping list', version: 1, nodes: 0 }],
      })
    })

    it('answers PAYLOAD_TOO_LARGE past the most documents the server holds', async () => {
      for (const id of ['d1', 'd2', 'd3']) expect(await a.request('document:create', { id })).toMatchObject({ status: 'success' })
      expect(await a.request('document:create', { id: 'd4' })).toEqual(error(4, 'PAYLOAD_TOO_LARGE', 'This server holds at most 3 documents'))
      expect(await a.request('document:get', { id: 'd1' })).toMatchObject({ status: 'success', ref: 5 })
    })
  })

  describe('document:delete and the per-user quota', () => {
    it('deletes a document for its creator, tells the others, and frees its name', async () => {
      await a.request('document:create', { id: 'doc' })
      await b.request('document:get', { id: 'doc' })
      expect(await a.nextPush()).toEqual({ command: 'document:users', document: 'doc', joined: ['bob'], left: [] })
      expect(await a.request('document:delete', { id: 'doc' })).toEqual({ status: 'success', ref: 2 })
      expect(await b.nextPush()).toEqual({ command: 'document:deleted', document: 'doc' })
      expect(await b.request('document:get', { id: 'doc' })).toEqual(error(2, 'NOT_FOUND', 'No document doc'))
      expect(await b.request('node:create', { type: 'task', data: {} })).toEqual(error(3, 'NOT_FOUND', 'No document doc'))
      expect(await a.request('document:list', {})).toEqual({ status: 'success', ref: 3, documents: [] })
      expect(await b.request('document:create', { id: 'doc' })).toEqual({ status: 'success', ref: 4 })
    })

    it('answers FORBIDDEN to anyone but the creator, NOT_FOUND and VALIDATION_FAILED, deleting nothing', async () => {
      await a.request('document:create', { id: 'doc' })
      expect(await b.request('document:delete', { id: 'doc' })).toEqual(error(1, 'FORBIDDEN', 'Only the user who created document doc may delete it'))
      expect(await b.request('document:delete', { id: 'nope' })).toEqual(error(2, 'NOT_FOUND', 'No document nope'))
      expect(await b.request('document:delete', { id: '' })).toEqual(invalid(3, ['id'], 'too_small'))
      expect(await b.request('document:delete', {})).toEqual(invalid(4, ['id'], 'invalid_type'))
      expect(await b.request('document:list', {})).toEqual({ status: 'success', ref: 5, documents: [{ id: 'doc', version: 1, nodes: 0 }] })
      // The creator is the user, not the connection: ann's second connection may delete it.
      const ann2 = await demo.client('ann')
      expect(await ann2.request('document:delete', { id: 'doc' })).toEqual({ status: 'success', ref: 1 })
    })

    it('answers FORBIDDEN past maxDocumentsPerUser, even to parallel requests, until the user deletes one', async () => {
      const quota = await Demo.start({ maxDocuments: 10, maxDocumentsPerUser: 2 })
      try {
        const ann = await quota.client('ann')
        const bob = await quota.client('bob')
        const replies = await Promise.all(['d1', 'd2', 'd3', 'd4', 'd5'].map((id) => ann.request('document:create', { id })))
        const tooMany = 'You have created 2 documents, the most one user may: delete one first'
        expect(replies).toEqual([
          { status: 'success', ref: 1 }, { status: 'success', ref: 2 },
          error(3, 'FORBIDDEN', tooMany), error(4, 'FORBIDDEN', tooMany), error(5, 'FORBIDDEN', tooMany),
        ])
        expect(await bob.request('document:create', { id: 'b1' })).toEqual({ status: 'success', ref: 1 })
        expect(await ann.request('document:delete', { id: 'd1' })).toEqual({ status: 'success', ref: 6 })
        expect(await ann.request('document:create', { id: 'd3' })).toEqual({ status: 'success', ref: 7 })
        expect(() => documentsApp({ maxDocumentsPerUser: 0 })).toThrow(TypeError)
      } finally {
        await quota.close()
      }
    })
  })

  describe('document:get', () => {
    it('answers NOT_FOUND and VALIDATION_FAILED, and keeps the current document', async () => {
      await a.request('document:create', { id: 'mine' })
      expect(await a.request('document:get', { id: 'nope' })).toEqual(error(2, 'NOT_FOUND', 'No document nope'))
      expect(await a.request('document:get', { id: 7 })).toEqual(invalid(3, ['id'], 'invalid_type'))
      expect(await a.request('node:create', { type: 'task', data: {} })).toEqual({
        status: 'success', ref: 4, node: { id: 2, type: 'task', data: {} }, version: 2,
      })
    })

    it('moves the client from the room of its previous document to the new one', async () => {
      await a.request('document:create', { id: 'one' })
      await b.request('document:get', { id: 'one' })
      expect(await a.nextPush()).toEqual({ command: 'document:users', document: 'one', joined: ['bob'], left: [] })
      await a.request('document:create', { id: 'two' })
      expect(await b.nextPush()).toEqual({ command: 'document:users', document: 'one', joined: [], left: ['ann'] })
      await b.request('document:get', { id: 'two' })
      expect(await a.nextPush()).toEqual({ command: 'document:users', document: 'two', joined: ['bob'], left: [] })
      await a.request('node:create', { type: 'task', data: { name: 'in two' } })
      expect(await b.nextPush()).toEqual({ command: 'node:create', document: 'two', version: 2, id: 2, type: 'task', data: { name: 'in two' } })
      // One user with two connections is listed once.
      const ann2 = await demo.client('ann')
      expect(await ann2.request('document:get', { id: 'two' })).toMatchObject({ 'active-users': ['ann', 'bob'] })
      // Her second connection is no news to the others, coming or going; her last one leaving is.
      await ann2.close()
      await a.request('document:leave', {})
      expect(await b.nextPush()).toEqual({ command: 'document:users', document: 'two', joined: [], left: ['ann'] })
      expect(b.pendingPushes).toEqual([])
    })
  })

  describe('document:update', () => {
    it('merges fields (null removes one) and pushes them, even to a document the sender has not open', async () => {
      await a.request('document:create', { id: 'doc' })
      expect(await b.request('document:update', { id: 'doc', data: { title: 'Doc', color: 'red' } })).toEqual({
        status: 'success', ref: 1, data: { title: 'Doc', color: 'red' }, version: 2,
      })
      expect(await a.nextPush()).toEqual({ command: 'document:update', document: 'doc', version: 2, data: { title: 'Doc', color: 'red' } })
      expect(await b.request('document:update', { id: 'doc', data: { color: null } })).toEqual({
        status: 'success', ref: 2, data: { title: 'Doc' }, version: 3,
      })
      expect(await a.nextPush()).toEqual({ command: 'document:update', document: 'doc', version: 3, data: { title: 'Doc' } })
    })

    it('answers NOT_FOUND, VALIDATION_FAILED for bad fields and PAYLOAD_TOO_LARGE past the most fields', async () => {
      await a.request('document:create', { id: 'doc' })
      expect(await a.request('document:update', { id: 'nope', data: {} })).toEqual(error(2, 'NOT_FOUND', 'No document nope'))
      expect(await a.request('document:update', { id: 'doc', data: { nested: { no: 1 } } })).toEqual(invalid(3, ['data', 'nested'], 'invalid_union'))
      expect(await a.request('document:update', { id: 'doc', data: { long: 'x'.repeat(2001) } })).toEqual(invalid(4, ['data', 'long'], 'too_big'))
      expect(await a.request('document:update', { id: 'doc', data: ['a'] })).toEqual(invalid(5, ['data'], 'invalid_type'))
      const many = (prefix: string, n: number): Record<string, number> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, i]))
      expect(await a.request('document:update', { id: 'doc', data: many('k', MAX_FIELDS + 1) })).toEqual(invalid(6, ['data'], 'custom'))
      expect(await a.request('document:update', { id: 'doc', data: many('k', MAX_FIELDS) })).toMatchObject({ status: 'success', version: 2 })
      expect(await a.request('document:update', { id: 'doc', data: { one: 'more' } })).toEqual(error(8, 'PAYLOAD_TOO_LARGE', `At most ${MAX_FIELDS} fields`))
      // Nothing changed: the version is still 2.
      expect(await a.request('document:get', { id: 'doc' })).toMatchObject({ document: { version: 2 } })
    })
  })

  describe('document:leave and document:list', () => {
    it('leaves the room (the others see it), then node:create answers BAD_REQUEST', async () => {
      await a.request('document:create', { id: 'doc' })
      await b.request('document:get', { id: 'doc' })
      expect(await a.nextPush()).toEqual({ command: 'document:users', document: 'doc', joined: ['bob'], left: [] })
      expect(await b.request('document:leave', {})).toEqual({ status: 'success', ref: 2 })
      expect(await a.nextPush()).toEqual({ command: 'document:users', document: 'doc', joined: [], left: ['bob'] })
      expect(await b.request('node:create', { type: 'task', data: {} })).toEqual(
        error(3, 'BAD_REQUEST', 'No document is open: send document:create or document:get first'),
      )
      // Leaving with nothing open is fine; extra fields are not.
      expect(await b.request('document:leave', {})).toEqual({ status: 'success', ref: 4 })
      expect(await b.request('document:leave', { id: 'doc' })).toEqual(invalid(5, [], 'unrecognized_keys'))
      expect(await b.request('document:list', { page: 2 })).toEqual(invalid(6, [], 'unrecognized_keys'))
      await a.request('document:create', { id: 'apples' })
      expect(await b.request('document:list', {})).toEqual({
        status: 'success', ref: 7, documents: [{ id: 'apples', version: 1, nodes: 0 }, { id: 'doc', version: 1, nodes: 0 }],
      })
    })
  })

  describe('node:create, node:update, node:delete', () => {
    beforeEach(async () => {
      await a.request('document:create', { id: 'doc' })
      await b.request('document:get', { id: 'doc' })
      await a.nextPush() // bob joined
    })

    it('creates, merges and deletes, pushing each change with its version', async () => {
      expect(await a.request('node:create', { type: '/type/task', data: { name: 'milk', done: false } })).toEqual({
        status: 'success', ref: 2, node: { id: 2, type: '/type/task', data: { name: 'milk', done: false } }, version: 2,
      })
      expect(await b.nextPush()).toEqual({
        command: 'node:create', document: 'doc', version: 2, id: 2, type: '/type/task', data: { name: 'milk', done: false },
      })
      expect(await b.request('node:update', { id: 2, data: { done: true, note: 'oat' } })).toEqual({
        status: 'success', ref: 2, node: { id: 2, type: '/type/task', data: { name: 'milk', done: true, note: 'oat' } }, version: 3,
      })
      expect(await a.nextPush()).toEqual({
        command: 'node:update', document: 'doc', version: 3, id: 2, type: '/type/task', data: { name: 'milk', done: true, note: 'oat' },
      })
      expect(await b.request('node:update', { id: 2, data: { note: null } })).toMatchObject({ node: { data: { name: 'milk', done: true } }, version: 4 })
      expect(await a.nextPush()).toMatchObject({ command: 'node:update', version: 4, data: { name: 'milk', done: true } })
      expect(await a.request('node:delete', { id: 2 })).toEqual({ status: 'success', ref: 3, id: 2, version: 5 })
      expect(await b.nextPush()).toEqual({ command: 'node:delete', document: 'doc', version: 5, id: 2 })
      expect(await b.request('document:get', { id: 'doc' })).toEqual({
        status: 'success', ref: 4, document: { id: 'doc', version: 5, data: {}, nodes: [] }, 'active-users': ['ann', 'bob'],
      })
    })

    it('answers NOT_FOUND for an unknown node and VALIDATION_FAILED for bad input, changing nothing', async () => {
      expect(await a.request('node:update', { id: 99, data: { done: true } })).toEqual(error(2, 'NOT_FOUND', 'No node 99 in document doc'))
      expect(await a.request('node:delete', { id: 99 })).toEqual(error(3, 'NOT_FOUND', 'No node 99 in document doc'))
      expect(await a.request('node:update', { id: 'two', data: {} })).toEqual(invalid(4, ['id'], 'invalid_type'))
      expect(await a.request('node:delete', { id: 1.5 })).toEqual(invalid(5, ['id'], 'invalid_type'))
      expect(await a.request('node:create', { data: {} })).toEqual(invalid(6, ['type'], 'invalid_type'))
      expect(await a.request('node:create', { type: 't'.repeat(65), data: {} })).toEqual(invalid(7, ['type'], 'too_big'))
      expect(await a.request('node:create', { type: 't', data: { name: 'x'.repeat(2001) } })).toEqual(invalid(8, ['data', 'name'], 'too_big'))
      expect(await a.request('node:create', { type: 't', data: {}, version: 1 })).toEqual(invalid(9, [], 'unrecognized_keys'))
      expect(b.pendingPushes).toEqual([])
      expect(await a.request('node:create', { type: 't', data: {} })).toMatchObject({ status: 'success', version: 2 })
    })

    it(`answers PAYLOAD_TOO_LARGE past ${MAX_NODES} nodes or ${MAX_DATA_BYTES} bytes of fields, so a full document's get stays under 1.2 MB`, async () => {
      expect(await a.request('node:create', { type: 't', data: { a: 'x'.repeat(1500), b: 'y'.repeat(1500) } })).toEqual(
        error(2, 'PAYLOAD_TOO_LARGE', `Fields take at most ${MAX_DATA_BYTES} bytes`),
      )
      expect(await a.request('document:update', { id: 'doc', data: { a: 'é'.repeat(1100) } })).toEqual(
        error(3, 'PAYLOAD_TOO_LARGE', `Fields take at most ${MAX_DATA_BYTES} bytes`),
      )
      // Every node as big as it may be (a 64-character type, fields of 2,048 bytes); in batches of
      // 100: a connection may have at most 256 requests waiting.
      const biggest = (i: number) => ({ type: 't'.repeat(64), data: { i, a: 'x'.repeat(1000), b: 'x'.repeat(MAX_DATA_BYTES - 1028) } })
      for (let i = 0; i < MAX_NODES; i += 100) {
        const batch = await Promise.all(Array.from({ length: 100 }, (_, j) => a.request('node:create', biggest(i + j))))
        expect(batch.every((r) => r.status === 'success')).toBe(true)
      }
      expect(await a.request('node:create', { type: 't', data: {} })).toEqual(
        error(MAX_NODES + 4, 'PAYLOAD_TOO_LARGE', `A document holds at most ${MAX_NODES} nodes`),
      )
      const full = new Promise<number>((resolve) => b.socket.once('message', (data: Buffer) => resolve(data.length)))
      expect(await b.request('document:get', { id: 'doc' })).toMatchObject({ status: 'success', document: { version: MAX_NODES + 1 } })
      expect(await full).toBeLessThan(1_200_000)
      expect(await a.request('node:delete', { id: 2 })).toMatchObject({ status: 'success', version: MAX_NODES + 2 })
    })
  })

  describe('connecting', () => {
    it('names a client without a user parameter guest-xxxx', async () => {
      const guest = await demo.client(undefined)
      await guest.request('document:create', { id: 'g' })
      expect(await guest.request('document:get', { id: 'g' })).toMatchObject({ 'active-users': [expect.stringMatching(/^guest-[0-9a-f]{4}$/)] })
    })

    it('refuses a name that is too long with HTTP 400', async () => {
      const status = await new Promise<number | undefined>((resolve, reject) => {
        const socket = new WebSocket(`${demo.wsUrl}/?user=${'x'.repeat(33)}`)
        socket.once('unexpected-response', (_req, res) => resolve(res.statusCode))
        socket.once('open', () => reject(new Error('accepted')))
      })
      expect(status).toBe(400)
      expect(await a.request('document:list', {})).toEqual({ status: 'success', ref: 1, documents: [] })
    })

    it('puts auth() in front: no token is refused with 401, a token names the user', async () => {
      const secret = 'a demo secret of at least 32 bytes!'
      const guarded = await Demo.start({ auth: auth({ verify: jwt({ secret }), from: 'query' }) })
      try {
        const refused = await new Promise<number | undefined>((resolve, reject) => {
          const socket = new WebSocket(`${guarded.wsUrl}/?user=mallory`)
          socket.once('unexpected-response', (_req, res) => resolve(res.statusCode))
          socket.once('open', () => reject(new Error('accepted')))
        })
        expect(refused).toBe(401)
        const token = await new SignJWT({ name: 'Carol' }).setProtectedHeader({ alg: 'HS256' }).setSubject('u1')
          .setExpirationTime('1h').sign(new TextEncoder().encode(secret))
        const carol = await TestClient.connect(guarded.wsUrl, { query: `token=${token}&user=mallory` })
        await carol.request('document:create', { id: 'private' })
        expect(await carol.request('document:get', { id: 'private' })).toMatchObject({ 'active-users': ['Carol'] })
        await carol.close()
      } finally {
        await guarded.close()
      }
    })

    it("gives its HTTP server Talk's header timeout, so slowloris and silent sockets get 408 after 10 s", () => {
      // attach() runs before listen(), so Node checks every quarter of the timeout (test/attack/handshake.test.ts shows the 408s).
      const server = demo.server.server as typeof demo.server.server & { connectionsCheckingInterval?: number }
      expect([server.headersTimeout, server.connectionsCheckingInterval]).toEqual([10_000, 2_500])
    })

    it('answers NOT_FOUND for a route the demo does not have', async () => {
      expect(await a.request('document:destroy', { id: 'x' })).toEqual(error(1, 'NOT_FOUND', 'Unknown route "document/destroy"'))
      expect(await a.request('document:list', {})).toMatchObject({ status: 'success', ref: 2 })
    })
  })

  describe('the page', () => {
    it('serves the page, its script, its style and the client bundle', async () => {
      for (const [path, type] of [['/', 'text/html'], ['/app.js', 'text/javascript'], ['/style.css', 'text/css'], ['/talk-client.js', 'text/javascript']]) {
        const res = await fetch(`${demo.httpUrl}${path}`)
        expect([path, res.status, res.headers.get('content-type')]).toEqual([path, 200, `${type}; charset=utf-8`])
      }
      expect(await (await fetch(`${demo.httpUrl}/talk-client.js`)).text()).toMatch(/export\s*\{[^}]*\bconnect\b/)
    })

    it('answers 404 for other paths and 405 for other methods', async () => {
      expect((await fetch(`${demo.httpUrl}/../package.json`)).status).toBe(404)
      expect((await fetch(`${demo.httpUrl}/server.ts`)).status).toBe(404)
      expect((await fetch(`${demo.httpUrl}/`, { method: 'POST' })).status).toBe(405)
    })
  })
})
