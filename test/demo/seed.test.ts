import { Demo } from './demo-server'

describe('the documents demo speaks the seed conversation', () => {
  let demo: Demo
  beforeEach(async () => {
    demo = await Demo.start()
  })
  afterEach(() => demo.close())

  it.each(['command', 'route'] as const)('frame by frame, names in %s form', async (field) => {
    const name = (colon: string): string => (field === 'command' ? colon : colon.replace(':', '/'))
    const client1 = await demo.client('client1')
    const client2 = await demo.client('client2')
    expect(client1.welcome).toEqual({ command: 'welcome', client: expect.any(String), protocol: 1, resume: expect.any(String) })

    client1.socket.send(JSON.stringify({ [field]: name('document:create'), id: 'hello-world' }))
    expect(await client1.nextReply()).toEqual({ status: 'success' })

    client2.socket.send(JSON.stringify({ [field]: name('document:get'), id: 'hello-world' }))
    expect(await client2.nextReply()).toEqual({
      status: 'success',
      document: { id: 'hello-world', version: 1, data: {}, nodes: [] },
      'active-users': ['client1', 'client2'],
    })
    // The one already there hears who joined: a delta, not the whole list.
    expect(await client1.nextPush()).toEqual({ command: 'document:users', document: 'hello-world', joined: ['client2'], left: [] })

    client1.socket.send(JSON.stringify({ [field]: name('node:create'), type: '/type/task', data: { name: 'A new task' } }))
    expect(await client1.nextReply()).toEqual({
      status: 'success',
      node: { id: 2, type: '/type/task', data: { name: 'A new task' } },
      version: 2,
    })
    expect(await client2.nextPush()).toEqual({
      command: 'node:create',
      document: 'hello-world',
      version: 2,
      id: 2,
      type: '/type/task',
      data: { name: 'A new task' },
    })

    // Closing the tab: the others' active users drop the one who left.
    await client2.close()
    expect(await client1.nextPush()).toEqual({ command: 'document:users', document: 'hello-world', joined: [], left: ['client2'] })

    // The sender hears nothing of its own change, and nothing else is pending.
    expect(client1.pendingPushes).toEqual([])
    expect(client2.pendingPushes).toEqual([])
  })

  it('echoes refs and answers a third client who has nothing open', async () => {
    const [client1, client3] = [await demo.client('client1'), await demo.client('client3')]
    expect(await client1.request('document:create', { id: 'hello-world' }, { ref: 'r1' })).toEqual({ status: 'success', ref: 'r1' })
    expect(await client3.request('document:get', { id: 'nope' })).toEqual({
      status: 'error', ref: 1, error: { code: 'NOT_FOUND', message: 'No document nope' },
    })
    expect(await client3.request('node:create', { type: '/type/task', data: {} })).toEqual({
      status: 'error',
      ref: 2,
      error: { code: 'BAD_REQUEST', message: 'No document is open: send document:create or document:get first' },
    })
    expect(await client1.request('node/create', { type: '/type/task', data: { name: 'x' } }, { field: 'route' })).toEqual({
      status: 'success', ref: 1, node: { id: 2, type: '/type/task', data: { name: 'x' } }, version: 2,
    })
    expect(client3.pendingPushes).toEqual([])
  })
})
