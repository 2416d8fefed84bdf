import { readFileSync } from 'node:fs'
import { join } from 'node:path'
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
