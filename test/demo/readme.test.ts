import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import { TalkApp } from 'talk'
import { TestClient } from 'talk/testing'

const ROOT = join(__dirname, '..', '..')

/** The first ```ts block after a README heading. */
function snippet(heading: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const at = readme.indexOf(`\n## ${heading}\n`)
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at))
  if (at === -1 || block === null) throw new Error(`README has no ts block under "## ${heading}"`)
  return block[1] as string
}

describe("the README's Talk app", () => {
  it('is test/demo/readme-app.ts, which the type-check covers', () => {
    expect(snippet('A Talk app')).toBe(readFileSync(join(__dirname, 'readme-app.ts'), 'utf8'))
  })

  it('runs the seed conversation', async () => {
    const listen = jest.spyOn(TalkApp.prototype, 'listen')
    const log = jest.spyOn(console, 'log').mockImplementation(() => {})
    const port = process.env.PORT
    process.env.PORT = '0'
    let app: TalkApp | undefined
    try {
      require('./readme-app')
      app = listen.mock.contexts[0] as TalkApp
      await listen.mock.results[0]?.value
      // The snippet's own .then() ran before ours: it was attached first.
      const line = String(log.mock.calls[0]?.[0])
      expect(line).toMatch(/^listening on ws:\/\/127\.0\.0\.1:\d+$/)
      const url = line.slice('listening on '.length)

      const client1 = await TestClient.connect(url, { query: 'user=client1' })
      const client2 = await TestClient.connect(url, { query: 'user=client2' })
      expect(await client1.send({ command: 'document:create', id: 'hello-world' })).toEqual({ status: 'success' })
      expect(await client2.send({ command: 'document:get', id: 'hello-world' })).toEqual({
        status: 'success', document: { id: 'hello-world', nodes: [] }, 'active-users': ['client1', 'client2'],
      })
      expect(await client1.send({ command: 'node:create', type: '/type/task', data: { name: 'A new task' } })).toEqual({ status: 'success' })
      expect(await client2.nextPush()).toEqual({ command: 'node:create', type: '/type/task', data: { name: 'A new task' } })
      expect(await client2.send({ command: 'document:create', id: 'hello-world' })).toEqual({
        status: 'error', error: { code: 'CONFLICT', message: 'Document hello-world exists' },
      })
      await Promise.all([client1.close(), client2.close()])
    } finally {
      process.env.PORT = port
      listen.mockRestore()
      log.mockRestore()
      await app?.close()
    }
  })
})

describe("the README's app with auth", () => {
  const SECRET = 'a test secret of at least thirty-two bytes'

  it('is test/demo/readme-auth.ts, which the type-check covers', () => {
    expect(snippet('What the demo shows')).toBe(readFileSync(join(__dirname, 'readme-auth.ts'), 'utf8'))
  })

  it('listens on PORT, refuses a connection without a token with 401, and knows the token\'s user', async () => {
    const listen = jest.spyOn(TalkApp.prototype, 'listen')
    const log = jest.spyOn(console, 'log').mockImplementation(() => {})
    const saved = { PORT: process.env.PORT, JWT_SECRET: process.env.JWT_SECRET }
    Object.assign(process.env, { PORT: '0', JWT_SECRET: SECRET })
    let app: TalkApp | undefined
    try {
      require('./readme-auth')
      app = listen.mock.contexts[0] as TalkApp
      await listen.mock.results[0]?.value
      expect(listen.mock.calls).toEqual([[0]])
      const url = String(log.mock.calls[0]?.[0]).slice('listening on '.length)
      await expect(TestClient.connect(url)).rejects.toThrow('HTTP 401')
      const token = await new SignJWT({ name: 'ann' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(SECRET))
      const client = await TestClient.connect(url, { query: `token=${token}` })
      expect(await client.request('me')).toEqual({ status: 'success', ref: 1, name: 'ann' })
      await client.close()
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key]
        else process.env[key] = value
      }
      listen.mockRestore()
      log.mockRestore()
      await app?.close()
    }
  })
})
