// Talk with the same chain as raw-ws-chain: auth (bearer token at the handshake, checked per message),
// zod validation of the body, and a state lookup before the handler.
// TODO(#3): switch auth and loadState to the bundled middleware once they land in middleware/.
import pino from 'pino'
import { z } from 'zod'
import { talk, TalkError, validate, type Handshake, type HandshakeMiddleware, type Middleware } from '../../lib'
import { serveControl } from '../lib/control'
import { BENCH_TOKEN } from '../lib/targets'

interface Document {
  id: string
}

const Echo = z.object({ n: z.number().int(), pad: z.string().max(4096) })
const Join = z.object({ room: z.string().min(1).max(200) })
const Publish = z.object({ room: z.string().min(1).max(200), seq: z.number().int(), pad: z.string().max(4096) })

/** Bearer auth: one fixed token stands in for a real verifier, checked once at the upgrade. */
function auth(): HandshakeMiddleware {
  const check: Middleware = function auth(ctx, next) {
    if (ctx.client.user === undefined) throw new TalkError('UNAUTHORIZED', 'Sign in first')
    return next()
  }
  return Object.assign(check, {
    handshake(handshake: Handshake) {
      if (handshake.headers['authorization'] !== `Bearer ${BENCH_TOKEN}`) throw new TalkError('UNAUTHORIZED', 'Bad token')
      handshake.user = { name: 'bench' }
    },
  })
}

/** Looks up the client's current document (ctx.state) in the app's documents, for the handler. */
function loadState(documents: Map<string, Document>): Middleware {
  return function loadState(ctx, next) {
    const id = ctx.state['document']
    ctx.locals['document'] = documents.get(typeof id === 'string' ? id : 'lobby')
    return next()
  }
}

const documents = new Map<string, Document>()
const app = talk({ logger: pino({ level: 'silent' }) })
const load = loadState(documents)
app.use(auth())

app.route('echo', validate({ body: Echo }), load, (ctx) => {
  ctx.reply({ echo: ctx.body })
})

app.route('join', validate({ body: Join }), load, (ctx) => {
  const { room } = ctx.body as z.output<typeof Join>
  if (!documents.has(room)) documents.set(room, { id: room })
  ctx.state['document'] = room
  ctx.join(room)
})

app.route('publish', validate({ body: Publish }), load, (ctx) => {
  const body = ctx.body as z.output<typeof Publish>
  ctx.to(body.room).send('news', body)
})

void app.listen(0, '127.0.0.1').then(({ port }) => serveControl(port))
