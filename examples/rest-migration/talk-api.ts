// examples/rest-migration/talk-api.ts
import { talk, TalkError, type Client, type TalkApp } from 'talk'
import { z } from 'zod'
import { NewTask, TaskChanges, TaskFilter, userFor, type TaskStore } from './tasks.js'

const TaskId = z.object({ id: z.string() })

/** The same API as Talk routes: the handshake signs the user in, every change is pushed live. */
export function talkApi(tasks: TaskStore): TalkApp {
  const app = talk()

  // Runs on every WebSocket upgrade and on every HTTP request through the bridge.
  app.handshake((hs) => {
    const auth = hs.headers.authorization
    const user = userFor(typeof auth === 'string' ? auth : undefined, hs.cookies.token)
    if (user === undefined) throw new TalkError('UNAUTHORIZED', 'Sign in first')
    hs.user = { name: user }
  })

  const userOf = (client: Client) => String(client.user?.name)
  const owned = (id: string, user: string) => {
    const task = tasks.get(id)
    if (task === undefined) throw new TalkError('NOT_FOUND', `No task ${id}`)
    if (task.owner !== user) throw new TalkError('FORBIDDEN', 'Not your task')
    return task
  }

  app.route('task/list', { body: TaskFilter }, (ctx) => ({ tasks: tasks.list(ctx.body.done) }))
  app.route('task/get', { body: TaskId }, (ctx) => {
    const task = tasks.get(ctx.body.id)
    if (task === undefined) throw new TalkError('NOT_FOUND', `No task ${ctx.body.id}`)
    return { task }
  })
  app.route('task/create', { body: NewTask }, (ctx) => {
    const task = tasks.create(userOf(ctx.client), ctx.body.title)
    ctx.to('tasks').send('task:create', { task })
    return { task }
  })
  app.route('task/update', { body: TaskId.extend(TaskChanges.shape) }, (ctx) => {
    const { id, ...changes } = ctx.body
    owned(id, userOf(ctx.client))
    const task = tasks.update(id, changes)
    ctx.to('tasks').send('task:update', { task })
    return { task }
  })
  app.route('task/delete', { body: TaskId }, (ctx) => {
    owned(ctx.body.id, userOf(ctx.client))
    tasks.delete(ctx.body.id)
    ctx.to('tasks').send('task:delete', { id: ctx.body.id })
    return { deleted: ctx.body.id }
  })

  // New with Talk, socket only: join the list's room to hear every change live.
  app.route('task/watch', (ctx) => {
    ctx.join('tasks')
    return { tasks: tasks.list() }
  })
  return app
}
