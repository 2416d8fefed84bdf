// Talk with no middleware: the framework's own cost over raw-ws.
import pino from 'pino'
import { talk, TalkError } from '../../lib'
import { serveControl } from '../lib/control'

const app = talk({ logger: pino({ level: 'silent' }) })

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
