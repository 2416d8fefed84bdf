// Talk with the same chain as raw-ws-chain, from the bundled middleware: auth (bearer token checked at
// the handshake, enforced per message), validate (zod) and loadState before the handler.
import pino from 'pino'
import { z } from 'zod'
import { auth, loadState, talk, validate } from '../../index'
import { serveControl } from '../lib/control'
import { BENCH_TOKEN, UNLIMITED } from '../lib/targets'

interface Document {
  id: string
}

const Echo = z.object({ n: z.number().int(), pad: z.string().max(4096) })
const Join = z.object({ room: z.string().min(1).max(200) })
const Publish = z.object({ room: z.string().min(1).max(200), seq: z.number().int(), pad: z.string().max(4096) })

const documents = new Map<string, Document>()
const app = talk({ logger: pino({ level: 'silent' }), rateLimit: UNLIMITED })

// One fixed token stands in for a real verifier, as in raw-ws-chain.
app.use(auth({ verify: (token) => (token === BENCH_TOKEN ? { user: { name: 'bench' } } : undefined), refresh: false }))

const currentDocument = loadState<Document>({
  key: 'document',
  id: (ctx) => (typeof ctx.state['document'] === 'string' ? ctx.state['document'] : 'lobby'),
  load: (_ctx, id) => documents.get(id),
  required: false,
})

// validate() right after the name types ctx.body; auth.require() is the per-message auth check.
const signedIn = auth.require()

app.route('echo', validate({ body: Echo }), signedIn, currentDocument, (ctx) => {
  ctx.reply({ echo: ctx.body })
})

app.route('join', validate({ body: Join }), signedIn, currentDocument, (ctx) => {
  const { room } = ctx.body
  if (!documents.has(room)) documents.set(room, { id: room })
  ctx.state['document'] = room
  ctx.join(room)
})

app.route('publish', validate({ body: Publish }), signedIn, currentDocument, (ctx) => {
  ctx.to(ctx.body.room).send('news', ctx.body)
})

void app.listen(0, '127.0.0.1').then(({ port }) => serveControl(port))
