// examples/rest-migration/express-api.ts
import express, { type NextFunction, type Request, type Response } from 'express'
import type { z } from 'zod'
import { NewTask, TaskChanges, TaskFilter, userFor, type TaskStore } from './tasks.js'

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details?: unknown) {
    super(message)
  }
}

function parse<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const result = schema.safeParse(input)
  if (!result.success) {
    const details = result.error.issues.map((i) => ({ path: i.path, message: i.message, code: i.code }))
    throw new HttpError(422, 'VALIDATION_FAILED', 'Request body is invalid', details)
  }
  return result.data
}

/** The REST API before the move: bearer-token auth, zod validation, JSON errors. */
export function legacyRoutes(tasks: TaskStore): express.Router {
  const router = express.Router()
  router.use(express.json())
  router.use((req, res, next) => {
    const user = userFor(req.get('authorization'), undefined)
    if (user === undefined) throw new HttpError(401, 'UNAUTHORIZED', 'Sign in first')
    res.locals.user = user
    next()
  })

  const owned = (id: string, user: string) => {
    const task = tasks.get(id)
    if (task === undefined) throw new HttpError(404, 'NOT_FOUND', `No task ${id}`)
    if (task.owner !== user) throw new HttpError(403, 'FORBIDDEN', 'Not your task')
    return task
  }

  router.get('/tasks', (req, res) => {
    res.json({ tasks: tasks.list(parse(TaskFilter, req.query).done) })
  })
  router.get('/tasks/:id', (req, res) => {
    const task = tasks.get(req.params.id)
    if (task === undefined) throw new HttpError(404, 'NOT_FOUND', `No task ${req.params.id}`)
    res.json({ task })
  })
  router.post('/tasks', (req, res) => {
    const { title } = parse(NewTask, req.body ?? {})
    res.status(201).json({ task: tasks.create(res.locals.user as string, title) })
  })
  router.patch('/tasks/:id', (req, res) => {
    owned(req.params.id, res.locals.user as string)
    res.json({ task: tasks.update(req.params.id, parse(TaskChanges, req.body ?? {})) })
  })
  router.delete('/tasks/:id', (req, res) => {
    owned(req.params.id, res.locals.user as string)
    tasks.delete(req.params.id)
    res.json({ deleted: req.params.id })
  })

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (!(err instanceof HttpError)) return next(err)
    res.status(err.status).json({ error: { code: err.code, message: err.message, details: err.details } })
  })
  return router
}

/** The whole app before the move. */
export function expressApi(tasks: TaskStore): express.Express {
  return express().use(legacyRoutes(tasks))
}
