// examples/web-service/server.ts: the migrated server. Old clients call the same URLs and get the
// same bytes; new clients open a WebSocket on the same port (`?api-key=` on the upgrade).
import type { Server } from 'node:http'
import express from 'express'
import type { TalkApp } from 'talk'
import { notFound } from './express-api'
import { legacyBridge, talkApi } from './talk-api'

/** Starts the migrated server on `port` (0: a free one) and resolves once it listens. */
export function startServer(port = 0, host = '127.0.0.1'): Promise<{ server: Server; app: TalkApp }> {
  const app = talkApi()
  const api = express()
  api.use(legacyBridge(app))
  // What no mapping takes still gets the old JSON 404.
  api.use(notFound)
  return new Promise((resolve) => {
    const server = api.listen(port, host, () => resolve({ server, app }))
    app.attach(server)
  })
}
