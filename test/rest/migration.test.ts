import { readFileSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { TalkApp } from '../../index'
import WebSocket from 'ws'
import { TestClient } from '../../lib/testing'
import { expressApi } from '../../examples/rest-migration/express-api'
import { startServer } from '../../examples/rest-migration/server'
import { startStandalone } from '../../examples/rest-migration/standalone'
import { TaskStore } from '../../examples/rest-migration/tasks'

const root = join(__dirname, '../..')
const alice = 'Bearer alice-token'
const bob = 'Bearer bob-token'
const task1 = { id: '1', title: 'Write the guide', done: false, owner: 'alice' }
const task2 = { id: '2', title: 'Review it', done: false, owner: 'bob' }
const issue = { path: expect.any(Array), message: expect.any(String), code: expect.any(String) }

/** What an old REST client does, and what the Express API answered it (status, JSON body). */
const transcript: [method: string, path: string, auth: string | undefined, body: unknown, status: number, reply: unknown][] = [
  ['GET', '/tasks', undefined, undefined, 401, { error: { code: 'UNAUTHORIZED', message: 'Sign in first' } }],
  ['POST', '/tasks', alice, { title: 'Write the guide' }, 201, { task: task1 }],
  ['POST', '/tasks', alice, { title: '' }, 422, { error: { code: 'VALIDATION_FAILED', message: 'Request body is invalid', details: [issue] } }],
  ['POST', '/tasks', bob, { title: 'Review it' }, 201, { task: task2 }],
  ['GET', '/tasks', alice, undefined, 200, { tasks: [task1, task2] }],
  ['GET', '/tasks/1', bob, undefined, 200, { task: task1 }],
  ['GET', '/tasks/99', bob, undefined, 404, { error: { code: 'NOT_FOUND', message: 'No task 99' } }],
  ['PATCH', '/tasks/1', bob, { done: true }, 403, { error: { code: 'FORBIDDEN', message: 'Not your task' } }],
  ['PATCH', '/tasks/1', alice, { done: true }, 200, { task: { ...task1, done: true } }],
  ['PATCH', '/tasks/1', alice, { done: 'yes' }, 422, { error: { code: 'VALIDATION_FAILED', message: 'Request body is invalid', details: [issue] } }],
  ['GET', '/tasks?done=true', alice, undefined, 200, { tasks: [{ ...task1, done: true }] }],
  ['DELETE', '/tasks/2', alice, undefined, 403, { error: { code: 'FORBIDDEN', message: 'Not your task' } }],
  ['DELETE', '/tasks/2', bob, undefined, 200, { deleted: '2' }],
  ['GET', '/tasks', bob, undefined, 200, { tasks: [{ ...task1, done: true }] }],
]

async function listening(start: () => Promise<Server>): Promise<{ server: Server; base: string }> {
  const server = await start()
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

async function play(base: string): Promise<[number, unknown][]> {
  const out: [number, unknown][] = []
  for (const [method, path, auth, body] of transcript) {
    const headers: Record<string, string> = {}
    if (auth !== undefined) headers.authorization = auth
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    out.push([res.status, await res.json()])
  }
  return out
}

const expected = (talk: boolean) =>
  transcript.map(([, , , , status, reply]) => [status, talk ? { status: status < 300 ? 'success' : 'error', ...(reply as object) } : reply])

describe('examples/rest-migration', () => {
  const open: { server: Server; app?: TalkApp }[] = []
  afterEach(async () => {
    for (const { server, app } of open.splice(0)) {
      await app?.close()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  it('before: the Express API answers the old client as the transcript says', async () => {
    const { server, base } = await listening(
      () => new Promise((resolve) => {
        const s = expressApi(new TaskStore()).listen(0, () => resolve(s))
      }),
    )
    open.push({ server })
    expect(await play(base)).toEqual(expected(false))
  })

  it.each([
    ['during: Express with the bridge', startServer],
    ['after: Talk on its own port', startStandalone],
  ])('%s answers the same, plus "status"', async (_name, start) => {
    const started = await start(0)
    open.push(started)
    const base = `http://127.0.0.1:${(started.server.address() as AddressInfo).port}`
    expect(await play(base)).toEqual(expected(true))
  })

  it('during: an HTTP write is pushed live to socket clients, and socket writes are seen over HTTP', async () => {
    const started = await startServer(0)
    open.push(started)
    const port = (started.server.address() as AddressInfo).port
    const base = `http://127.0.0.1:${port}`
    const watcher = await TestClient.connect(`ws://127.0.0.1:${port}`, { headers: { cookie: 'token=bob-token' } })
    try {
      expect(await watcher.request('task/watch')).toEqual({ status: 'success', ref: 1, tasks: [] })
      const res = await fetch(`${base}/tasks`, {
        method: 'POST',
        headers: { authorization: alice, 'content-type': 'application/json' },
        body: JSON.stringify({ title: 'Write the guide' }),
      })
      expect(res.status).toBe(201)
      expect(await watcher.nextPush()).toEqual({ command: 'task:create', task: task1 })

      expect(await watcher.request('task/create', { title: 'Review it' })).toEqual({ status: 'success', ref: 2, task: task2 })
      const list = await fetch(`${base}/tasks`, { headers: { authorization: alice } })
      expect(await list.json()).toEqual({ status: 'success', tasks: [task1, task2] })
      // a socket without a token is refused at the upgrade, by the same hook
      const refused = await new Promise<number | undefined>((resolve) => {
        const socket = new WebSocket(`ws://127.0.0.1:${port}`)
        socket.on('error', () => undefined)
        socket.once('unexpected-response', (request, response) => {
          resolve(response.statusCode)
          request.destroy()
        })
        socket.once('open', () => resolve(undefined))
      })
      expect(refused).toBe(401)
    } finally {
      await watcher.close()
    }
  })

  it('after: serves the OpenAPI document of the task routes', async () => {
    const started = await startStandalone(0)
    open.push(started)
    const res = await fetch(`http://127.0.0.1:${(started.server.address() as AddressInfo).port}/openapi.json`)
    const doc = (await res.json()) as { info: unknown; paths: Record<string, unknown> }
    expect(doc.info).toEqual({ title: 'Tasks', version: '2.0.0' })
    expect(Object.keys(doc.paths)).toEqual(['/tasks', '/tasks/{id}'])
  })

  it.each([
    ['the bridge in front of Express', [], 'server', 'startServer'],
    ['Talk alone', ['standalone'], 'standalone', 'startStandalone'],
  ] as const)('start.ts starts %s on PORT', async (_name, args, file, name) => {
    // start.ts is an entry point: importing it starts a stage (no require.main, so it runs as an ES module too).
    type Start = (port?: number) => Promise<{ server: Server; app: TalkApp }>
    const log = jest.spyOn(console, 'log').mockImplementation(() => {})
    const saved = { argv: process.argv, port: process.env.PORT }
    process.argv = [process.argv[0] as string, 'start.js', ...args]
    process.env.PORT = '0'
    let start: jest.SpyInstance | undefined
    try {
      jest.isolateModules(() => {
        start = jest.spyOn(require(`../../examples/rest-migration/${file}`) as Record<typeof name, Start>, name)
        require('../../examples/rest-migration/start')
      })
      expect(start?.mock.calls).toEqual([[0]])
      const started = await (start?.mock.results[0]?.value as ReturnType<Start>)
      open.push(started)
      expect(log.mock.calls).toEqual([['listening on', started.server.address()]])
      const res = await fetch(`http://127.0.0.1:${(started.server.address() as AddressInfo).port}/tasks`)
      expect(res.status).toBe(401)
    } finally {
      process.argv = saved.argv
      process.env.PORT = saved.port
      log.mockRestore()
    }
  })

  it('shows every example file in docs/migrating-from-rest.md exactly as it is', () => {
    const doc = readFileSync(join(root, 'docs/migrating-from-rest.md'), 'utf8')
    const blocks = [...doc.matchAll(/```ts\n(\/\/ examples\/rest-migration\/([\w-]+\.ts)\n[\s\S]*?)```/g)]
    expect(blocks.map((b) => b[2]).sort()).toEqual(['express-api.ts', 'server.ts', 'standalone.ts', 'start.ts', 'talk-api.ts', 'tasks.ts'])
    for (const [, code, file] of blocks) {
      expect(code).toBe(readFileSync(join(root, 'examples/rest-migration', file as string), 'utf8'))
    }
  })
})
