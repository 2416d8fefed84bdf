// Compile-time checks of the bundled middleware's types: `npm test` runs `tsc --noEmit` over this file.
// Every `@ts-expect-error` line must fail to compile, or tsc reports the directive as unused.
import { z } from 'zod'
import { auth, fromExpress, jwt, loadState, logger, rateLimit, talk, timeout, validate, type ExpressMiddleware } from '../../index'

const NodeBody = z.object({ type: z.string().max(100), data: z.unknown(), position: z.coerce.number().default(0) })
const DocParams = z.object({ id: z.string().min(1) })

interface Doc {
  id: string
  title: string
}

export function typedChain(): void {
  const app = talk()
  const docs = new Map<string, Doc>()

  // validate() as the first middleware types ctx.body from its schema (parsed: defaults applied).
  app.route('node/create', validate({ body: NodeBody }), auth.require(), (ctx) => {
    const type: string = ctx.body.type
    const position: number = ctx.body.position
    // @ts-expect-error -- not in the schema
    void ctx.body.colour
    // @ts-expect-error -- a string, not a number
    const wrong: number = ctx.body.type
    return { type, position, wrong }
  })

  // Params too, through a pattern.
  app.route('document/:id/title', validate({ params: DocParams }), (ctx) => {
    const id: string = ctx.params.id
    // @ts-expect-error -- not a declared param
    void ctx.params.other
    return { id }
  })

  // The route-spec form types ctx.body the same way.
  app.route('node/move', { body: NodeBody }, (ctx) => {
    const position: number = ctx.body.position
    // @ts-expect-error -- not in the schema
    void ctx.body.colour
    return { position }
  })

  // Without a schema the body is a loose record.
  app.route('loose', (ctx) => {
    const anything: unknown = ctx.body.whatever
    // @ts-expect-error -- unknown until narrowed
    const text: string = ctx.body.whatever
    return { anything, text }
  })

  // loadState's typed accessor works on any route's context.
  const doc = loadState<Doc>({ id: (ctx) => ctx.body.id as string | undefined, load: (_ctx, id) => docs.get(id) })
  app.route('document/title', { body: z.object({ id: z.string() }) }, doc, (ctx) => {
    const title: string = doc.get(ctx).title
    // @ts-expect-error -- Doc has no such field
    void doc.get(ctx).owner
    return { title }
  })
  // @ts-expect-error -- load must return the declared type
  loadState<Doc>({ load: () => ({ id: 'x' }) })

  // The other factories take typed options.
  app.use(logger({ level: 'debug' }))
  // @ts-expect-error -- errors are logged at warn/error by outcome; `level` is for successes
  logger({ level: 'error' })
  app.use(rateLimit({ capacity: 10, refillPerSecond: 5, by: 'user' }))
  // @ts-expect-error -- not a bucket key
  rateLimit({ by: 'session' })
  app.use(timeout({ ms: 1000 }))
  app.use(auth({ from: ['header', 'cookie'], verify: jwt({ secret: 'x'.repeat(32) }) }))
  // @ts-expect-error -- verify must answer { user } or nothing
  auth({ verify: () => 'ok' })
  app.route('admin', auth.require((user) => user.role === 'admin'), () => ({}))

  // Express middleware fit fromExpress whatever their request type.
  const express: ExpressMiddleware = (_req, _res, next) => next()
  app.use(fromExpress([express]))
  // @ts-expect-error -- user/state are for the handshake only… and must be functions
  fromExpress(express, { user: 'ada' })
}
