// examples/rest-migration/server.ts
import type { Server } from 'node:http'
import express from 'express'
import { bridge, resource, type TalkApp } from 'talk'
import { legacyRoutes } from './express-api.js'
import { talkApi } from './talk-api.js'
import { TaskStore } from './tasks.js'

/** During the move: one port, old REST clients and new socket clients, one set of handlers. */
export function startServer(port = 3000): Promise<{ server: Server; app: TalkApp }> {
  const tasks = new TaskStore()
  const app = talkApi(tasks)
  const api = express()
  // Talk first: it answers the endpoints it has a route for and passes the rest on.
  api.use(bridge(app, { routes: resource('/tasks', 'task') }))
  // What Talk does not serve yet, the old handlers still do.
  api.use(legacyRoutes(tasks))
  return new Promise((resolve) => {
    const server = api.listen(port, () => resolve({ server, app }))
    app.attach(server)
  })
}
