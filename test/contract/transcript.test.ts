import type { Frame } from '../../lib/testing'
import { HTTP_ROUTES, TOKENS, tasksApp } from './tasks-app'
import { httpTransport, websocketTransport, type ContractRequest, type Transport } from './transports'

/**
 * One step of the transcript: a request, the reply written transport-free (no ref; each transport
 * adds what it delivers: the ref over a socket, the status over HTTP), and the pushes the watching
 * socket client gets because of it, in order. Nothing else may reach the watcher.
 */
interface Step extends ContractRequest {
  says: string
  reply: Frame
  pushes?: Frame[]
}

const write = { id: '1', title: 'Write the guide', done: false, owner: 'alice' }
const review = { id: '2', title: 'Review it', done: false, owner: 'bob' }

const TRANSCRIPT: Step[] = [
  { says: 'alice creates a task, pushed to the watcher', as: 'alice', route: 'task/create', body: { title: 'Write the guide' },
    reply: { status: 'success', task: write }, pushes: [{ command: 'task:create', task: write }] },
  { says: 'bob creates another', as: 'bob', route: 'task/create', body: { title: 'Review it' },
    reply: { status: 'success', task: review }, pushes: [{ command: 'task:create', task: review }] },
  { says: 'alice reads hers', as: 'alice', route: 'task/get', body: { id: '1' },
    reply: { status: 'success', task: write } },
  { says: 'a task that is not there is NOT_FOUND', as: 'alice', route: 'task/get', body: { id: '99' },
    reply: { status: 'error', error: { code: 'NOT_FOUND', message: 'No task 99' } } },
  { says: 'an empty title fails validation with the issues', as: 'alice', route: 'task/create', body: { title: '' },
    reply: { status: 'error', error: { code: 'VALIDATION_FAILED', message: 'Request body is invalid', details: [
      { path: ['title'], message: 'Too small: expected string to have >=1 characters', code: 'too_small' },
    ] } } },
  { says: 'a title taken is a CONFLICT', as: 'alice', route: 'task/create', body: { title: 'Review it' },
    reply: { status: 'error', error: { code: 'CONFLICT', message: 'A task has that title' } } },
  { says: 'nobody signed in is UNAUTHORIZED', route: 'task/list',
    reply: { status: 'error', error: { code: 'UNAUTHORIZED', message: 'Sign in first' } } },
  { says: "bob may not change alice's task", as: 'bob', route: 'task/update', body: { id: '1', done: true },
    reply: { status: 'error', error: { code: 'FORBIDDEN', message: 'Not your task' } } },
  { says: 'alice completes hers, pushed', as: 'alice', route: 'task/update', body: { id: '1', done: true },
    reply: { status: 'success', task: { ...write, done: true } }, pushes: [{ command: 'task:update', task: { ...write, done: true } }] },
  { says: 'bob hands his to alice, pushed', as: 'bob', route: 'task/assign', body: { id: '2', to: 'alice' },
    reply: { status: 'success', task: { ...review, owner: 'alice' } }, pushes: [{ command: 'task:update', task: { ...review, owner: 'alice' } }] },
  { says: 'a filter from the query string or the frame', as: 'alice', route: 'task/list', body: { done: 'true' },
    reply: { status: 'success', tasks: [{ ...write, done: true }] } },
  { says: 'alice deletes what is now hers, pushed', as: 'alice', route: 'task/delete', body: { id: '2' },
    reply: { status: 'success', deleted: '2' }, pushes: [{ command: 'task:delete', id: '2' }] },
  { says: 'the list is what is left', as: 'bob', route: 'task/list',
    reply: { status: 'success', tasks: [{ ...write, done: true }] } },
]

const transports = { websocket: websocketTransport, http: httpTransport }

describe.each(Object.keys(transports) as (keyof typeof transports)[])('the transcript over %s', (name) => {
  let transport: Transport
  beforeAll(async () => {
    transport = await transports[name]({
      app: tasksApp(),
      routes: HTTP_ROUTES,
      headersFor: (user) => ({ authorization: `Bearer ${TOKENS[user] ?? 'unknown'}` }),
      watchRoute: 'watch',
    })
  })
  afterAll(() => transport.close())

  for (const step of TRANSCRIPT) {
    it(step.says, async () => {
      const delivered = await transport.send(step)
      expect(delivered).toEqual(transport.expected(step, step.reply))
      for (const push of step.pushes ?? []) expect(await transport.watcher.nextPush()).toEqual(push)
      // The watcher's own round trip comes after any push this step caused: none may be left over.
      await transport.watcher.request('watch')
      expect(transport.watcher.pendingPushes).toEqual([])
    })
  }
})
