import { testServer, type TestServer } from '../lib/testing'
import { seedApp } from './helpers/seed-app'
import { expectSeedConversation } from './helpers/seed-conversation'

describe('the seed conversation', () => {
  let server: TestServer
  beforeEach(async () => {
    server = await testServer(seedApp())
  })
  afterEach(() => server.close())

  it.each(['command', 'route'] as const)('passes end to end with three clients, names in %s form', async (field) => {
    const client1 = await server.client({ query: 'user=client1' })
    const client2 = await server.client({ query: 'user=client2' })
    const client3 = await server.client({ query: 'user=client3' })

    await expectSeedConversation(client1, client2, field)

    // client3 has no document open: it hears nothing, and its next frame is its own reply.
    expect(await client3.request('document/get', { id: 'nope' })).toEqual({
      status: 'error', ref: 1, error: { code: 'NOT_FOUND', message: 'No document nope' },
    })
    expect(client3.pendingPushes).toEqual([])
    expect(client1.pendingPushes).toEqual([])
  })
})
