import { z } from 'zod'
import { resource, talk, TalkError, type HttpRoutes, type Middleware, type TalkApp } from '../../index'
import { silent } from '../helpers/seed-app'

/** Bearer tokens the contract's users sign in with. */
export const TOKENS: Readonly<Record<string, string>> = { alice: 'alice-token', bob: 'bob-token' }

/** How the app's routes are reached over HTTP. */
export const HTTP_ROUTES: HttpRoutes = {
  ...resource('/tasks', 'task'),
  'POST /tasks/:id/assign': 'task/assign',
}

interface Task {
  id: string
  title: string
  done: boolean
  owner: string
}

const TaskId = z.object({ id: z.string().min(1) })

/**
 * The app the contract suite plays its transcript against: a shared to-do list with bearer-token
 * users, zod validation, errors of several codes, and a push to the `tasks` room on every change.
 */
export function tasksApp(): TalkApp {
  const app = talk({ logger: silent })
  const tasks = new Map<string, Task>()
  let next = 1

  // Lenient: a request without a valid token is still served, and routes that need a user refuse it.
  app.handshake((hs) => {
    const auth = hs.headers.authorization
    const token = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : undefined
    const name = Object.keys(TOKENS).find((user) => TOKENS[user] === token)
    if (name !== undefined) hs.user = { name }
  })
  const signedIn: Middleware = (ctx, next) => {
    if (ctx.client.user === undefined) throw new TalkError('UNAUTHORIZED', 'Sign in first')
    return next()
  }
  app.use('task/*rest', signedIn)

  const owned = (id: string, user: unknown): Task => {
    const task = tasks.get(id)
    if (task === undefined) throw new TalkError('NOT_FOUND', `No task ${id}`)
    if (task.owner !== user) throw new TalkError('FORBIDDEN', 'Not your task')
    return task
  }

  app.route('task/list', { body: z.object({ done: z.stringbool().optional() }) }, (ctx) => ({
    tasks: [...tasks.values()].filter((t) => ctx.body.done === undefined || t.done === ctx.body.done),
  }))
  app.route('task/get', { body: TaskId }, (ctx) => {
    const task = tasks.get(ctx.body.id)
    if (task === undefined) throw new TalkError('NOT_FOUND', `No task ${ctx.body.id}`)
    return { task }
  })
  app.route('task/create', { body: z.object({ title: z.string().min(1).max(100) }) }, (ctx) => {
    if ([...tasks.values()].some((t) => t.title === ctx.body.title)) throw new TalkError('CONFLICT', 'A task has that title')
    const task = { id: String(next++), title: ctx.body.title, done: false, owner: String(ctx.client.user?.name) }
    tasks.set(task.id, task)
    ctx.to('tasks').send('task:create', { task })
    return { task }
  })
  app.route('task/update', { body: TaskId.extend({ title: z.string().min(1).max(100).optional(), done: z.boolean().optional() }) }, (ctx) => {
    const { id, ...changes } = ctx.body
    const task = { ...owned(id, ctx.client.user?.name), ...changes }
    tasks.set(id, task)
    ctx.to('tasks').send('task:update', { task })
    return { task }
  })
  app.route('task/assign', { body: TaskId.extend({ to: z.enum(Object.keys(TOKENS)) }) }, (ctx) => {
    const task = { ...owned(ctx.body.id, ctx.client.user?.name), owner: ctx.body.to }
    tasks.set(task.id, task)
    ctx.to('tasks').send('task:update', { task })
    return { task }
  })
  app.route('task/delete', { body: TaskId }, (ctx) => {
    owned(ctx.body.id, ctx.client.user?.name)
    tasks.delete(ctx.body.id)
    ctx.to('tasks').send('task:delete', { id: ctx.body.id })
    return { deleted: ctx.body.id }
  })
  // Socket only: the watcher joins the room every change is pushed to.
  app.route('watch', (ctx) => {
    ctx.join('tasks')
  })
  return app
}
