// examples/web-service/express-api.ts: the API before the move, as Express's own web-service
// example writes it: an API-key check on /api, errors carried by `err.status`, a JSON 404.
import express, { type NextFunction, type Request, type Response } from 'express'
import { API_KEYS, repos, userRepos, users } from './data'

/** An Error with the HTTP status the error handler answers with. */
function error(status: number, message: string): Error & { status: number } {
  return Object.assign(new Error(message), { status })
}

/** The old Express app, whole. */
export function expressApi(): express.Express {
  const app = express()

  // Every /api path needs a known ?api-key=.
  app.use('/api', (req: Request, _res: Response, next: NextFunction) => {
    const key = req.query['api-key']
    if (typeof key !== 'string' || key === '') return next(error(400, 'api key required'))
    if (!API_KEYS.includes(key)) return next(error(401, 'invalid api key'))
    next()
  })

  app.get('/api/users', (_req, res) => {
    res.send(users)
  })
  app.get('/api/repos', (_req, res) => {
    res.send(repos)
  })
  app.get('/api/user/:name/repos', (req, res, next) => {
    const found = Object.prototype.hasOwnProperty.call(userRepos, req.params.name) ? userRepos[req.params.name] : undefined
    if (found !== undefined) res.send(found)
    else next()
  })

  // Errors with a status answer with it, as `{ error: message }`.
  app.use((err: Error & { status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    res.status(err.status ?? 500)
    res.send({ error: err.message })
  })
  app.use(notFound)
  return app
}

/** The JSON 404 of everything nothing else answered (the migrated server keeps it). */
export function notFound(_req: Request, res: Response): void {
  res.status(404)
  res.send({ error: "Sorry, can't find that" })
}
