// The reconnect storm's Talk server: the bench targets' routes, attached to an HTTP server the storm
// controls (so the draining node lets go of its port at once), drained with app.close({ code: 1012, jitterMs }).
import { createServer } from 'node:http'
import pino from 'pino'
import { CLOSE, talk, TalkError } from '../../index'
import { serveStorm } from './server-control'

// maxConnections off: the storm holds up to 10,000 connections plus handshakes in flight, the
// default cap's size; everything else is as shipped (no resume: sessions do not outlive a process).
const app = talk({ logger: pino({ level: 'silent' }), maxConnections: 0 })

app.route('echo', (ctx) => {
  ctx.reply({ echo: ctx.body })
})

app.route('join', (ctx) => {
  const room = ctx.body['room']
  if (typeof room !== 'string') throw new TalkError('BAD_REQUEST', 'room must be a string')
  ctx.join(room)
})

app.route('publish', (ctx) => {
  const room = ctx.body['room']
  if (typeof room !== 'string') throw new TalkError('BAD_REQUEST', 'room must be a string')
  ctx.to(room).send('news', ctx.body)
})

const http = createServer()
app.attach(http)

serveStorm({
  http,
  drain: (jitterMs) => app.close({ code: CLOSE.SERVICE_RESTART, reason: 'service restart', jitterMs }),
  connections: () => app.health().connections,
})
