// Talk as shipped, with no middleware of the app's own: the framework's cost over raw-ws.
import pino from 'pino'
import { talk, TalkError } from '../../index'
import { serveControl } from '../lib/control'
import { UNLIMITED } from '../lib/targets'

const app = talk({ logger: pino({ level: 'silent' }), rateLimit: UNLIMITED })

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

void app.listen(0, '127.0.0.1').then(({ port }) => serveControl(port))
