import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { TalkApp } from '../index'
import { TestClient, testServer, type TestServer } from '../lib/testing'
import { STATUS } from '../lib/errors'

const root = join(__dirname, '..')

/** Loads an example app (its default logger is silent in tests: see test/helpers/env.ts). */
function load(name: string): TalkApp {
  return (require(join(root, 'examples/guide', name)) as { app: TalkApp }).app
}

describe('docs', () => {
  it('shows every examples/guide file in docs/guide.md exactly as it is', () => {
    const guide = readFileSync(join(root, 'docs/guide.md'), 'utf8')
    const blocks = [...guide.matchAll(/```ts\n(\/\/ examples\/guide\/([\w-]+\.ts)\n[\s\S]*?)```/g)]
    expect(blocks.map((b) => b[2]).sort()).toEqual(['first-app.ts', 'middleware.ts', 'rooms.ts', 'routers.ts'])
    for (const [, code, file] of blocks) {
      expect(code).toBe(readFileSync(join(root, 'examples/guide', file as string), 'utf8'))
    }
  })

  it('lists exactly the error codes and HTTP statuses of the code table in docs/protocol.md', () => {
    const protocol = readFileSync(join(root, 'docs/protocol.md'), 'utf8')
    const rows = [...protocol.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])])
    expect(Object.fromEntries(rows)).toEqual(STATUS)
  })
})

describe('the guide examples', () => {
  let server: TestServer | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  it('first-app: listens on PORT by itself, and sets and gets a greeting per client', async () => {
    // The snippet starts itself, as an ES module can (no require.main): PORT=0 picks a free port.
    const listen = jest.spyOn(TalkApp.prototype, 'listen')
    const log = jest.spyOn(console, 'log').mockImplementation(() => {})
    const port = process.env.PORT
    process.env.PORT = '0'
    let app: TalkApp | undefined
    const clients: TestClient[] = []
    try {
      app = load('first-app')
      await listen.mock.results[0]?.value
      expect(listen.mock.calls).toEqual([[0]])
      const line = String(log.mock.calls[0]?.[0])
      expect(line).toMatch(/^listening on ws:\/\/[^:]+:\d+$/)
      const url = line.slice('listening on '.length)
      const [a, b] = await Promise.all([TestClient.connect(url), TestClient.connect(url)])
      clients.push(a, b)
      expect(await a.request('greeting:set', { text: 'bonjour' })).toEqual({ status: 'success', ref: 1 })
      expect(await a.request('greeting/get')).toEqual({ status: 'success', ref: 2, text: 'bonjour' })
      expect(await b.request('greeting/get')).toEqual({ status: 'success', ref: 1, text: 'hello' })
    } finally {
      process.env.PORT = port
      listen.mockRestore()
      log.mockRestore()
      await Promise.all(clients.map((c) => c.close()))
      await app?.close()
    }
  })

  it('middleware: the scoped guard covers document routes only', async () => {
    server = await testServer(load('middleware'))
    const anonymous = await server.client()
    const ada = await server.client({ query: 'user=ada' })
    expect(await anonymous.request('document/rename', { name: 'x' })).toEqual({ status: 'error', ref: 1, error: { code: 'UNAUTHORIZED', message: 'Sign in first' } })
    expect(await anonymous.request('status')).toEqual({ status: 'success', ref: 2, up: true })
    expect(await ada.request('document/rename', { name: 'x' })).toEqual({ status: 'success', ref: 1, renamed: 'x' })
  })

  it('routers: params from the mount prefix and the route, validation from the spec', async () => {
    server = await testServer(load('routers'))
    const c = await server.client()
    expect(await c.request('document:42:nodes:add', { name: 'first' })).toEqual({ status: 'success', ref: 1, node: { id: '1', name: 'first' } })
    expect(await c.request('document/42/nodes/get/1')).toEqual({ status: 'success', ref: 2, node: { id: '1', name: 'first' } })
    expect(await c.request('document/42/nodes/get/9')).toEqual({ status: 'error', ref: 3, error: { code: 'NOT_FOUND', message: 'No node 9' } })
    expect(await c.request('document/42/nodes/add', { name: '' })).toEqual({
      status: 'error', ref: 4,
      error: { code: 'VALIDATION_FAILED', message: 'Request body is invalid', details: [{ path: ['name'], message: expect.any(String), code: 'too_small' }] },
    })
  })

  it('rooms: presence on entry and pushes to the others (the guide’s testing snippet)', async () => {
    server = await testServer(load('rooms'))
    const [ann, bob] = await Promise.all([server.client({ query: 'user=ann' }), server.client({ query: 'user=bob' })])
    expect(await ann.request('room/enter', { room: 'lobby' })).toEqual({ status: 'success', ref: 1, members: ['ann'] })
    expect(await bob.request('room/enter', { room: 'lobby' })).toEqual({ status: 'success', ref: 1, members: ['ann', 'bob'] })
    await ann.request('room/say', { text: 'hi' })
    expect(await bob.nextPush()).toEqual({ command: 'room:said', from: 'ann', text: 'hi' })
    expect(await bob.request('room/say', {})).toEqual({
      status: 'error', ref: 2,
      error: { code: 'VALIDATION_FAILED', message: 'Request body is invalid', details: [{ path: ['text'], message: expect.any(String), code: 'invalid_type' }] },
    })
    expect(ann.pendingPushes).toEqual([])
  })
})
