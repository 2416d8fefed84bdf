// examples/rest-migration/standalone.ts
import { createServer, type Server } from 'node:http'
import { bridge, resource, type TalkApp } from 'talk'
import { talkApi } from './talk-api.js'
import { TaskStore } from './tasks.js'

/** After the move: no Express, Talk answers HTTP and WebSocket on its own port. */
export function startStandalone(port = 3000): Promise<{ server: Server; app: TalkApp }> {
  const app = talkApi(new TaskStore())
  const server = createServer(bridge(app, { routes: resource('/tasks', 'task'), openapi: { info: { title: 'Tasks', version: '2.0.0' } } }))
  app.attach(server)
  return new Promise((resolve) => server.listen(port, () => resolve({ server, app })))
}
