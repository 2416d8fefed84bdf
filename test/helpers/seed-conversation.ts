import type { TestClient } from '../../lib/testing'

/**
 * Runs DESIGN.md §2's seed conversation between two clients of an app shaped like seedApp() and
 * checks every frame whole: create → `{ status: 'success' }`, get → document and both active users,
 * node:create → the reply to client1 and the push to client2. Names go in `field` (command or route form).
 */
export async function expectSeedConversation(client1: TestClient, client2: TestClient, field: 'command' | 'route' = 'command'): Promise<void> {
  const name = (colon: string): string => (field === 'command' ? colon : colon.replace(':', '/'))

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
}
