import { testServer, type TestServer } from '../lib/testing'
import { seedApp } from './helpers/seed-app'

describe('the seed conversation', () => {
  let server: TestServer
  beforeEach(async () => {
    server = await testServer(seedApp())
  })
  afterEach(() => server.close())

  it.each(['command', 'route'] as const)('passes end to end with three clients, names in %s form', async (field) => {
    const name = (colon: string) => (field === 'command' ? colon : colon.replace(':', '/'))
    const client1 = await server.client({ query: 'user=client1' })
    const client2 = await server.client({ query: 'user=client2' })
    const client3 = await server.client({ query: 'user=client3' })

    client1.socket.send(JSON.stringify({ [field]: name('document:create'), id: 'hello-world' }))
    expect(await client1.nextReply()).toEqual({ status: 'success' })

    client2.socket.send(JSON.stringify({ [field]: name('document:get'), id: 'hello-world' }))
    expect(await client2.nextReply()).toEqual({
      status: 'success',
      document: { id: 'hello-world', nodes: [] },
      'active-users': ['client1', 'client2'],
    })

    client1.socket.send(JSON.stringify({ [field]: name('node:create'), type: '/type/task', data: { name: 'A new task' } }))
    const node = { id: 1, type: '/type/task', data: { name: 'A new task' } }
    expect(await client1.nextReply()).toEqual({ status: 'success', node })
    expect(await client2.nextPush()).toEqual({ command: 'node:create', ...node })

    // client3 has no document open: it hears nothing, and its next frame is its own reply.
    expect(await client3.request('document/get', { id: 'nope' })).toEqual({
      status: 'error', ref: 1, error: { code: 'NOT_FOUND', message: 'No document nope' },
    })
    expect(client3.pendingPushes).toEqual([])
    expect(client1.pendingPushes).toEqual([])
  })
})
